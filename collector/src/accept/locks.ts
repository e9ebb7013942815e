/**
 * Per-node mutual exclusion inside one collector: hello, report, approval and rotation of one
 * node run one after the other, so two connections claiming one node cannot interleave.
 * (Across collectors the database orders them: see the store's seq check.)
 */
export class NodeLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier task for this node has finished. */
  run<T>(nodeId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(nodeId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(nodeId, tail);
    void tail.then(() => {
      if (this.tails.get(nodeId) === tail) this.tails.delete(nodeId);
    });
    return run;
  }

  get size(): number {
    return this.tails.size;
  }
}
