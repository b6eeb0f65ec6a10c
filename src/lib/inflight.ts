/**
 * @module One piece of work per key at a time: callers that ask for a key whose work is
 * under way get the same promise (three launches of one image make its base once).
 */
export class Inflight<T> {
  private readonly pending = new Map<string, Promise<T>>();

  run(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.pending.get(key);
    if (!p) {
      p = make().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }
}
