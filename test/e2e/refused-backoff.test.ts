import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentDaemon, type DaemonState } from '../../agent/src/daemon/daemon.js';
import { copyHost, removeHost } from '../helpers/hosts.js';
import { ManualClock } from '../helpers/manual-clock.js';
import {
  api,
  type CollectorProcess,
  removeDir,
  softTpmSource,
  startCollectorProcess,
  startTestAgent,
  tempDir,
  waitFor,
} from './harness.js';

/**
 * A revoked node against a real collector process: the agent's timers run on a simulated clock
 * (the sockets are real), so 496 simulated seconds take a moment. Issue 15 saw 967 reconnects in
 * 496 s with the backoff stuck at its first step, because the attempt counter reset whenever the
 * socket opened; now it resets only when a report is accepted, and a refusal backs off with growth.
 */
describe('a refused (revoked) agent backs off with growth instead of reconnecting in a loop', () => {
  const token = 'r'.repeat(48);
  let collector: CollectorProcess;
  let root: string;
  let stateDir: string;
  let daemon: AgentDaemon | null = null;

  beforeAll(async () => {
    collector = await startCollectorProcess({ token });
    root = await copyHost('a100');
    stateDir = await tempDir('refused');
    // First a normal life: the node's key is pinned and its reports verified.
    const first = await startTestAgent({ collector: collector.wsUrl, nodeId: 'rv-1', evidence: softTpmSource(root), stateDir });
    await waitFor('a verdict', () => new Promise<boolean>((r) => first.daemon.once('verdict', () => r(true))), 20_000);
    await first.stop();
    const r = await api(collector.url, 'POST', '/v1/nodes/rv-1/revoke', { reason: 'refused-backoff test' }, token);
    expect(r.status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await collector?.kill('SIGKILL');
    await removeHost(root);
    await removeDir(stateDir);
  });

  it('counts connections over a simulated 496 s: a handful, with the wait growing to the cap; one warning', async () => {
    const clock = new ManualClock();
    const logs: Array<{ level: number; msg: string; code?: string; next?: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const states: DaemonState[] = [];
    daemon = new AgentDaemon({
      collector: collector.wsUrl,
      nodeId: 'rv-1',
      stateDir,
      evidence: softTpmSource(root),
      logger,
      timers: clock,
      // The shortest waits the jitter can pick: the worst case for the number of connections.
      random: () => 0,
    });
    daemon.on('state', (s) => states.push(s));
    await daemon.start();

    const PERIOD_MS = 496_000;
    const refusals: Array<Extract<DaemonState, { name: 'refused' }>> = [];
    while (clock.now < PERIOD_MS) {
      const s = await waitFor(
        `refusal ${refusals.length + 1}`,
        () => {
          const st = daemon!.state;
          return st.name === 'refused' && st.attempt === refusals.length + 1 ? st : null;
        },
        10_000,
        10,
      );
      refusals.push(s);
      clock.advance(Math.min(s.delayMs, PERIOD_MS - clock.now));
    }
    const connections = states.filter((s) => s.name === 'connecting').length;
    // Waits of at least 5, 10, 20, 40, 80, 150, 150 s (half of 10 s × 2^n, capped at 5 min).
    expect(connections).toBeGreaterThanOrEqual(5);
    expect(connections).toBeLessThanOrEqual(8);
    expect(states.some((s) => s.name === 'backoff')).toBe(false);
    expect(refusals.map((r) => r.code)).toEqual(refusals.map(() => 'ERR_NODE_REVOKED'));
    expect(refusals.map((r) => r.attempt)).toEqual(refusals.map((_, i) => i + 1));
    expect(refusals.map((r) => r.delayMs)).toEqual(refusals.map((_, i) => Math.min(300_000, 10_000 * 2 ** i) / 2));
    // Logged once at warn level, with the operator's next step; repeats only at debug level.
    const warned = logs.filter((l) => l.level === 40 && l.code === 'ERR_NODE_REVOKED');
    expect(warned).toHaveLength(1);
    expect(warned[0]!.next).toMatch(/enroll-token/);
    expect(logs.filter((l) => l.msg === 'still refused').length).toBe(refusals.length - 1);
  }, 60_000);
});
