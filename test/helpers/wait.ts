/** Polls `fn` until it returns a truthy value (every `everyMs`); fails after `timeoutMs` with the last value seen. */
export async function waitUntil<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last: ${String(last instanceof Error ? last.message : JSON.stringify(last))}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
