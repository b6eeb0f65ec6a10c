/**
 * @module One lock per key (a guest's name): actions on one guest run one after another,
 * actions on different guests run at once.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** How many actions have taken each key's lock so far. */
  private readonly taken = new Map<string, number>();

  /**
   * undefined while an action holds or waits for the key's lock, else a mark that changes with
   * every action: a reader that gets the same mark before and after an await knows that no
   * action on the key ran in between.
   */
  mark(key: string): string | undefined {
    return this.tails.has(key) ? undefined : `${this.taken.get(key) ?? 0}`;
  }

  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    this.taken.set(key, (this.taken.get(key) ?? 0) + 1);
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.catch(() => {});
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
