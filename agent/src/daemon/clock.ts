/**
 * The daemon's timers, injected so that tests can drive backoff, heartbeat and report schedules
 * on a simulated clock (test/helpers/manual-clock.ts) while the sockets stay real.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
