/**
 * @module The autonomic loop on one host, its first part: restart policies. It looks at the
 * running guests that have a policy every second (monitor), and hears of every guest seen to
 * end on its own; autonomic/restart-policy.ts decides (analyse, plan); a restart is an
 * operation `autonomic.restart` with its reason, a give-up an operation `autonomic.give-up`
 * that writes the reason into the guest's state (execute). Any action on the guest through
 * Lodge (a start, a stop, a delete) takes over from the loop: what it had due is dropped and
 * its count starts again. Paused, the loop keeps what is due and acts when resumed.
 */
import type { AutonomicGuest, AutonomicStatus } from '../api/autonomic.js';
import type { Operation } from '../api/operations.js';
import { decideRestart, type RestartHistory } from '../autonomic/restart-policy.js';
import type { CpuWeigher } from './autonomic-cpu.js';
import type { HealthWatch } from './autonomic-health.js';
import type { KsmPolicy } from './autonomic-ksm.js';
import type { MemoryBalancer } from './autonomic-memory.js';
import type { Events } from './events.js';
import type { GuestService } from './guests.js';
import type { Operations } from './operations.js';
import type { Store } from './store.js';

export interface AutonomicServiceDeps {
  store: Store;
  guests: GuestService;
  operations: Operations;
  events: Events;
  log: (message: string) => void;
  /** How often running guests with a policy are looked at (default 1 s). */
  lookMs?: number;
  /** The loop's memory balancing, paused and resumed with the rest. */
  memory?: MemoryBalancer;
  /** The loop's CPU weighting, paused and resumed with the rest. */
  cpu?: CpuWeigher;
  /** The loop's health watch, which reports even while the loop is paused. */
  health?: HealthWatch;
  /** The loop's KSM policy, paused and resumed with the rest. */
  ksm?: KsmPolicy;
}

/** The loop's actions are operations whose action starts so. */
export const autonomicPrefix = 'autonomic.';
/** The operations after which what the loop had planned for their guest no longer holds. */
const takesOver = /^(guest\.\w+|snapshot\.restore|backup\.restore)$/;
const pausedKey = 'autonomic.paused';

interface Due {
  at: number;
  reason: string;
  timer: NodeJS.Timeout;
}

export class AutonomicService {
  private readonly deps: AutonomicServiceDeps;
  private readonly history = new Map<string, RestartHistory & { gaveUp?: boolean }>();
  private readonly due = new Map<string, Due>();
  private looker: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private looking = false;

  constructor(deps: AutonomicServiceDeps) {
    this.deps = deps;
  }

  /** Before reconcile: a guest that ended while lodged was down is restarted per its policy too. */
  start(): void {
    this.deps.guests.onEnded((name, how, clean) => this.ended(name, how, clean));
    // an action asked through Lodge takes over (a stop of a guest that has already ended too): the loop forgets what it had planned for the guest
    this.deps.guests.onAsked((name) => this.forget(name));
    this.unsubscribe = this.deps.events.subscribe((e) => {
      // so does anything else that starts it or replaces what it holds (a launch, a snapshot or a backup restored over it)
      if (e.type === 'operation' && takesOver.test(e.action) && e.detail?.status === 'running') this.forget(e.target);
    });
    this.looker = setInterval(() => void this.look(), this.deps.lookMs ?? 1000);
    this.deps.memory?.start(() => this.paused);
    this.deps.cpu?.start(() => this.paused);
    this.deps.health?.start();
    this.deps.ksm?.start(() => this.paused);
  }

  stop(): void {
    clearInterval(this.looker);
    this.deps.memory?.stop();
    this.deps.cpu?.stop();
    this.deps.health?.stop();
    this.deps.ksm?.stop();
    this.unsubscribe?.();
    for (const d of this.due.values()) clearTimeout(d.timer);
    this.due.clear();
  }

  private async look(): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    try {
      await this.deps.guests.look((g) => g.restart !== 'no' && (g.state === 'running' || g.state === 'paused'));
    } finally {
      this.looking = false;
    }
  }

  private forget(name: string): void {
    clearTimeout(this.due.get(name)?.timer);
    this.due.delete(name);
    this.history.delete(name);
  }

  get paused(): boolean {
    return this.deps.store.metaValue(pausedKey) === '1';
  }

  pause(): AutonomicStatus {
    this.deps.store.setMeta(pausedKey, '1');
    this.deps.events.emit('lifecycle', 'autonomic', 'paused');
    return this.status();
  }

  /** What came due while paused is done now. */
  resume(): AutonomicStatus {
    this.deps.store.setMeta(pausedKey, '0');
    this.deps.events.emit('lifecycle', 'autonomic', 'resumed');
    for (const [name, d] of this.due) if (d.at <= Date.now()) this.fire(name);
    return this.status();
  }

  status(): AutonomicStatus {
    const guests = this.deps.store
      .guests()
      .filter((g) => g.restart !== 'no')
      .map((g): AutonomicGuest => {
        const h = this.history.get(g.name);
        const d = this.due.get(g.name);
        return {
          name: g.name,
          restart: g.restart,
          state: g.state,
          restarts: h?.attempts ?? 0,
          ...(d ? { nextRestartAt: new Date(d.at).toISOString(), nextReason: d.reason } : {}),
          ...(h?.gaveUp ? { gaveUp: true } : {}),
        };
      });
    const next = Math.min(...[...this.due.values()].map((d) => d.at));
    const memory = this.deps.memory?.status();
    const cpu = this.deps.cpu?.status();
    const health = this.deps.health?.status();
    const ksm = this.deps.ksm?.status();
    return { paused: this.paused, ...(memory ? { memory } : {}), ...(cpu ? { cpu } : {}), ...(health ? { health } : {}), ...(ksm ? { ksm } : {}), guests, ...(Number.isFinite(next) ? { nextDue: new Date(next).toISOString() } : {}) };
  }

  /** The loop's last `limit` actions, newest first. */
  actions(limit: number): Operation[] {
    return this.deps.operations
      .list()
      .filter((o) => o.action.startsWith(autonomicPrefix))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
      .slice(0, limit);
  }

  private ended(name: string, how: string, clean: boolean): void {
    const g = this.deps.store.guest(name);
    if (!g || g.restart === 'no') return;
    const history = this.history.get(name) ?? { attempts: 0 };
    const decision = decideRestart({ name, policy: g.restart, how, clean, at: Date.now(), history });
    this.deps.log(`autonomic: ${decision.reason}`);
    if (decision.action === 'leave') return;
    if (decision.action === 'give-up') {
      this.history.set(name, { ...history, gaveUp: true });
      this.deps.operations.start(autonomicPrefix + 'give-up', name, () => this.deps.guests.explainStopped(name, decision.reason), { reason: decision.reason });
      return;
    }
    this.history.set(name, { ...history, attempts: decision.attempt });
    clearTimeout(this.due.get(name)?.timer);
    this.due.set(name, { at: Date.now() + decision.delayMs, reason: decision.reason, timer: setTimeout(() => this.fire(name), decision.delayMs) });
  }

  private fire(name: string): void {
    const d = this.due.get(name);
    if (!d || this.paused) return;
    this.due.delete(name);
    const g = this.deps.store.guest(name);
    if (!g || g.restart === 'no' || (g.state !== 'stopped' && g.state !== 'error')) return;
    let op: Operation;
    try {
      op = this.deps.guests.changeState(name, { action: 'start' }, { action: autonomicPrefix + 'restart', reason: d.reason });
    } catch (e) {
      this.deps.log(`autonomic: restarting ${name} refused: ${(e as Error).message}`);
      return;
    }
    void this.deps.operations.wait(op.id, 3600_000).then((done) => {
      const h = this.history.get(name);
      if (!h) return;
      if (done.status === 'success') h.startedAt = Date.now();
      // a failed start is one more failure in a row
      else if (done.status === 'failure') this.ended(name, `failed to start (${done.error?.cause ?? done.error?.message})`, false);
    });
  }
}
