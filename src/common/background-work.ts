/**
 * Work a caller starts and does not wait for at once (a step's cache record, a step's working
 * directory removed), waited for later, all together: a failure is kept, not unhandled, until
 * settle() throws it.
 */
export class BackgroundWork {
  private readonly pending = new Set<Promise<unknown>>();

  add(work: Promise<unknown>): void {
    this.pending.add(work);
    void work.then(
      () => this.pending.delete(work),
      () => undefined,
    );
  }

  /** Resolves once everything added has ended; the first failure, if any, is thrown. */
  async settle(): Promise<void> {
    const results = await Promise.allSettled([...this.pending]);
    this.pending.clear();
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }
}
