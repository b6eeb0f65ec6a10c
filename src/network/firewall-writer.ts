/**
 * @module Writes Lodge's firewall one nft transaction at a time: changes that arrive while
 * one runs go together into the next, so that eight launches at once cost one or two nft
 * runs, not eight (each nft run reads the kernel's ruleset first). A whole rebuild, made
 * from the database when it runs, takes the place of any change waiting with it. A
 * change that fails is followed by a rebuild, which brings the kernel back to the
 * database whatever was lost.
 */

interface Batch {
  lines: string[];
  rebuild: boolean;
  waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
}

export class FirewallWriter {
  private pending: Batch | undefined;
  private running = false;
  private readonly apply: (text: string) => Promise<void>;
  private readonly wholeRuleset: () => string;
  private readonly log: (message: string) => void;

  /** `apply` runs one transaction; `wholeRuleset` makes the full text from the database as it is at that moment. */
  constructor(apply: (text: string) => Promise<void>, wholeRuleset: () => string, log: (message: string) => void) {
    this.apply = apply;
    this.wholeRuleset = wholeRuleset;
    this.log = log;
  }

  /** Applies `lines` (with whatever else waits); on failure the whole ruleset is made again instead. */
  change(lines: readonly string[]): Promise<void> {
    return this.enqueue((b) => b.lines.push(...lines));
  }

  /** Replaces the whole ruleset with what the database says. */
  rebuild(): Promise<void> {
    return this.enqueue((b) => (b.rebuild = true));
  }

  private enqueue(add: (b: Batch) => void): Promise<void> {
    this.pending ??= { lines: [], rebuild: false, waiters: [] };
    add(this.pending);
    const done = new Promise<void>((resolve, reject) => this.pending!.waiters.push({ resolve, reject }));
    if (!this.running) void this.drain();
    return done;
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.pending) {
      const batch = this.pending;
      this.pending = undefined;
      try {
        if (batch.rebuild) {
          await this.apply(this.wholeRuleset());
        } else {
          try {
            await this.apply(batch.lines.join('\n'));
          } catch (e) {
            this.log(`firewall: ${(e as Error).message.trim()}; making it whole again`);
            await this.apply(this.wholeRuleset());
          }
        }
        batch.waiters.forEach((w) => w.resolve());
      } catch (e) {
        batch.waiters.forEach((w) => w.reject(e as Error));
      }
    }
    this.running = false;
  }
}
