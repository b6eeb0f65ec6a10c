/**
 * @module Undo as you go: each step of a multi-step change registers how to undo
 * itself; on failure the undos run in reverse order, on success they are dropped.
 */
export class Revert {
  private undos: Array<{ what: string; undo: () => unknown }> = [];

  add(what: string, undo: () => unknown): void {
    this.undos.push({ what, undo });
  }

  /** Runs every undo, newest first; an undo that fails is reported and the rest still run. */
  async fail(log: (message: string) => void = () => {}): Promise<void> {
    const undos = this.undos.reverse();
    this.undos = [];
    for (const { what, undo } of undos) {
      try {
        await undo();
      } catch (e) {
        log(`undo of ${what} failed: ${(e as Error).message}`);
      }
    }
  }

  success(): void {
    this.undos = [];
  }
}
