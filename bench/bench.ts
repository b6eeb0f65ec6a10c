/**
 * @module What a benchmark of the suite is: a function of its context (options, a place
 * to register cleanups, a log) that returns its one-line summary and its result, which
 * the suite writes to bench/results/NAME.json.
 */
import { TestDaemon } from '../test/system/harness.js';

export interface BenchOptions {
  runs?: number;
  count?: number;
  /** Extra options of one benchmark, as given on the command line. */
  [name: string]: string | number | boolean | undefined;
}

export interface BenchContext {
  options: BenchOptions;
  /** Runs `fn` when the benchmark ends, fails or is interrupted; the last registered first. */
  defer(fn: () => unknown): void;
  log(line: string): void;
}

export interface BenchOutcome {
  summary: string;
  result: Record<string, unknown>;
}

export type Benchmark = (ctx: BenchContext) => Promise<BenchOutcome>;

/**
 * A private lodged (its own socket and state), removed with everything it made when the
 * benchmark ends; its default pool of the driver --pool names (dir or btrfs), if it does.
 */
export async function privateDaemon(ctx: BenchContext, options: ConstructorParameters<typeof TestDaemon>[0] = {}): Promise<TestDaemon> {
  const pool = ctx.options.pool;
  const d = new TestDaemon({ ...options, args: [...(options.args ?? []), ...(pool ? ['--default-pool-driver', String(pool)] : [])] });
  ctx.defer(() => d.cleanup());
  await d.start();
  ctx.log(`private lodged on ${d.socket}; building the busybox image`);
  await d.buildBusybox();
  return d;
}

/** Runs `f` over `items`, `width` at a time. */
export async function pool<T>(items: readonly T[], width: number, f: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}
