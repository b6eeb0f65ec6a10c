/**
 * @module The autonomic loop's KSM policy on one host. Every 10 s it reads the host's ksmd and
 * the running guests (monitor), autonomic/ksm.ts decides whether this lodged wants ksmd running
 * and whether to start or stop it (analyse, plan), and a start or stop is an operation
 * `autonomic.ksm` with its reason, and an event (execute). Several lodgeds share the host's one
 * ksmd through host/ksm.ts's wants. Paused or in dry run, it says what it would do and does not;
 * on its way out, a lodged stops the ksmd it started that no other lodged wants.
 */
import type { KsmMode, KsmStatus } from '../api/autonomic.js';
import { decideKsm } from '../autonomic/ksm.js';
import { readKsm, setKsmRun, type KsmWants } from '../host/ksm.js';
import type { GuestService } from './guests.js';
import type { Operations } from './operations.js';

export interface KsmPolicyDeps {
  guests: GuestService;
  operations: Operations;
  log: (message: string) => void;
  mode: KsmMode;
  budgetBytes: number;
  wants: KsmWants;
  dryRun: boolean;
  /** The host's KSM files (tests give their own). */
  sysfs?: string;
  everyMs?: number;
}

export const ksmAction = 'autonomic.ksm';

export class KsmPolicy {
  private readonly deps: KsmPolicyDeps;
  private timer: NodeJS.Timeout | undefined;
  private paused: () => boolean = () => false;
  private last: KsmStatus;

  constructor(deps: KsmPolicyDeps) {
    this.deps = deps;
    this.last = { mode: deps.mode, available: readKsm(deps.sysfs) !== undefined, running: false, how: 'not looked at yet' };
  }

  start(paused: () => boolean): void {
    this.paused = paused;
    if (!this.last.available) this.deps.log(`autonomic: this host's kernel has no KSM (${this.deps.sysfs ?? '/sys/kernel/mm/ksm'}): vm guests' identical pages stay apart`);
    this.timer = setInterval(() => this.round(), this.deps.everyMs ?? 10_000);
    this.round();
  }

  /** This lodged no longer wants ksmd; the one it started stops if no other lodged wants it. */
  stop(): void {
    clearInterval(this.timer);
    const { wants } = this.deps;
    wants.want(false);
    if (this.deps.dryRun || readKsm(this.deps.sysfs)?.run !== 1 || !wants.startedByLodge || wants.othersWant()) return;
    try {
      setKsmRun(0, this.deps.sysfs);
      wants.startedByLodge = false;
      this.deps.log('autonomic: lodged stops; ksmd, which it started and no other lodged wants, stopped');
    } catch (e) {
      this.deps.log(`autonomic: ksmd could not be stopped: ${(e as Error).message}`);
    }
  }

  status(): KsmStatus {
    return this.last;
  }

  round(): void {
    const { wants } = this.deps;
    const host = readKsm(this.deps.sysfs);
    if (!host) {
      this.last = { mode: this.deps.mode, available: false, running: false, how: "this host's kernel has no KSM" };
      return;
    }
    // a ksmd stopped since a lodged started it (by the administrator, say) is no longer Lodge's
    if (host.run !== 1 && wants.startedByLodge) wants.startedByLodge = false;
    const running = this.deps.guests.runningMemoryBounds();
    const ceilings = running.reduce((a, g) => a + (g.bounds?.ceilingBytes ?? 0), 0);
    const decision = decideKsm({
      mode: this.deps.mode,
      overcommitted: ceilings > this.deps.budgetBytes,
      vmGuests: running.filter((g) => g.kind === 'vm').length,
      run: host.run,
      othersWant: wants.othersWant(),
      startedByLodge: wants.startedByLodge,
    });
    wants.want(decision.want);
    this.last = { mode: this.deps.mode, available: true, running: host.run === 1, savedBytes: host.savedBytes, how: decision.why };
    const set = decision.set;
    if (set === undefined) return;
    if (this.deps.dryRun || this.paused()) {
      this.last.how = `${decision.why} (${this.deps.dryRun ? 'dry run' : 'paused'}: not done)`;
      return;
    }
    this.deps.log(`autonomic: ${decision.why}`);
    this.deps.operations.start(
      ksmAction,
      'host',
      async () => {
        setKsmRun(set, this.deps.sysfs);
        wants.startedByLodge = set === 1;
        this.last = { ...this.last, running: set === 1 };
      },
      { reason: decision.why },
    );
  }
}
