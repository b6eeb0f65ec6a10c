/**
 * @module How many failed logins lodged takes before it stops listening: a sliding window
 * per user name (one account guessed from many addresses) and per remote address (many
 * accounts guessed from one). An attempt counts as failed from the moment it starts and is
 * forgiven when it succeeds, so that a burst of concurrent guesses, each waiting for scrypt,
 * cannot all slip in before the first one is counted. Memory is bounded: past `maxKeys`
 * names and addresses, the ones seen least recently are forgotten.
 */
export interface LoginLimits {
  /** Failures of one user name within the window, after which its logins are refused. */
  perUser: number;
  /** Failures from one address within the window. */
  perAddress: number;
  windowMs: number;
  maxKeys: number;
}

export const defaultLoginLimits: LoginLimits = { perUser: 5, perAddress: 20, windowMs: 15 * 60_000, maxKeys: 10_000 };

export class LoginLimiter {
  private readonly limits: LoginLimits;
  private readonly now: () => number;
  /** Times of failures by key ("user:NAME", "address:ADDR"), oldest first, only those within the window. */
  private readonly failures = new Map<string, number[]>();

  constructor(limits: LoginLimits = defaultLoginLimits, now: () => number = Date.now) {
    this.limits = limits;
    this.now = now;
  }

  /**
   * How long the next login for `user` from `address` must wait (0: it may go on), and
   * which of the two is blocked. When it may, the attempt is counted as a failure now.
   */
  attempt(user: string, address: string): { waitMs: number; blocked?: 'user' | 'address' } {
    for (const [key, limit, which] of [[`user:${user}`, this.limits.perUser, 'user'], [`address:${address}`, this.limits.perAddress, 'address']] as const) {
      const times = this.recent(key);
      if (times.length >= limit) return { waitMs: times[times.length - limit]! + this.limits.windowMs - this.now(), blocked: which };
    }
    this.add(`user:${user}`);
    this.add(`address:${address}`);
    return { waitMs: 0 };
  }

  /** The attempt succeeded: the user's failures are forgotten, and this attempt no longer counts against the address. */
  succeeded(user: string, address: string): void {
    this.failures.delete(`user:${user}`);
    const times = this.failures.get(`address:${address}`);
    times?.pop();
    if (times?.length === 0) this.failures.delete(`address:${address}`);
  }

  get windowMinutes(): number {
    return Math.round(this.limits.windowMs / 60_000);
  }

  /** Failures of a user name within the window. */
  failuresOf(user: string): number {
    return this.recent(`user:${user}`).length;
  }

  private recent(key: string): number[] {
    const times = this.failures.get(key);
    if (!times) return [];
    const since = this.now() - this.limits.windowMs;
    while (times.length && times[0]! <= since) times.shift();
    if (!times.length) this.failures.delete(key);
    return times;
  }

  private add(key: string): void {
    const times = this.recent(key);
    // a key seen again moves to the end of the map's order, so the least recent is first to go
    this.failures.delete(key);
    this.failures.set(key, [...times, this.now()]);
    for (const oldest of this.failures.keys()) {
      if (this.failures.size <= this.limits.maxKeys) break;
      this.failures.delete(oldest);
    }
  }
}
