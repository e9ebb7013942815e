/**
 * Exponential backoff with full jitter (a uniformly random wait between 0 and
 * min(cap, base × 2^(attempt−1))). attempt starts at 1. `random` is injected for tests.
 */
export function fullJitterDelay(attempt: number, opts: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.floor(random() * exp);
}

/** The interval with ±`fraction` jitter (default ±10%). */
export function jitteredInterval(intervalMs: number, random: () => number = Math.random, fraction = 0.1): number {
  return Math.max(1, Math.round(intervalMs * (1 - fraction + 2 * fraction * random())));
}

/**
 * A backoff that never comes back quickly: between half and all of min(cap, base × 2^(attempt−1))
 * ("equal jitter"). Used after a refusal, where a short wait only repeats the refusal.
 */
export function growingDelay(attempt: number, opts: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  const exp = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.floor(exp / 2 + (random() * exp) / 2);
}
