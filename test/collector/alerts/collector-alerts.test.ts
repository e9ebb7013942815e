import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setGpuField } from '../../helpers/hosts.js';
import { startFleet, type Fleet } from '../dashboard/harness.js';
import { Receiver } from './receiver.js';

const SECRET = 'collector-webhook-secret-42';

describe('alerts and metrics wired into a live collector', () => {
  const receiver = new Receiver();
  let fleet: Fleet;
  beforeAll(async () => {
    await receiver.up();
    fleet = await startFleet([{ id: 'gpu-w1', host: 'gpu8' }], {
      alerts: {
        webhooks: [
          { name: 'ops', url: receiver.url, secret: SECRET },
          { name: 'chat', url: receiver.url, format: 'slack', events: ['status-changed'] },
        ],
        backoff: { baseMs: 50, maxMs: 500 },
      },
    });
  });
  afterAll(async () => {
    await fleet?.close();
    await receiver.down();
  });

  it('a drift sends signed webhooks (JSON and Slack) and shows in /metrics', async () => {
    // First contact already produced status changes (the node becoming trusted): JSON and Slack alerts.
    await receiver.waitFor(2);
    await setGpuField(fleet.nodes.get('gpu-w1')!.root, 1, 'vbios', '99.99.99.99.99');
    expect((await fleet.attest('gpu-w1')).status).toBe('untrusted');
    const deadline = Date.now() + 10_000;
    const seen = () => receiver.got.map((g) => g.body);
    while (
      !(
        seen().some((b) => b.includes('"type":"drift"')) &&
        seen().some((b) => b.includes('"to":"untrusted"')) &&
        seen().some((b) => b.includes('*untrusted*'))
      ) &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 20));
    const json = receiver.got
      .filter((g) => g.headers['x-nodeseal-signature'])
      .map((g) => ({
        g,
        body: JSON.parse(g.body) as { type: string; from?: string; to?: string; reasons: Array<{ code: string; after?: unknown }> },
      }));
    for (const { g } of json) {
      const ts = String(g.headers['x-nodeseal-timestamp']);
      expect(g.headers['x-nodeseal-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${g.body}`).digest('hex')}`);
    }
    const drift = json.find((j) => j.body.type === 'drift')!;
    expect(drift.body.reasons[0]).toMatchObject({ code: 'gpu.vbios_changed', after: '99.99.99.99.99' });
    expect(json.map((j) => `${j.body.type}:${j.body.to ?? ''}`)).toEqual(
      expect.arrayContaining(['status-changed:trusted', 'status-changed:untrusted', 'drift:']),
    );
    const slack = receiver.got.filter((g) => !g.headers['x-nodeseal-signature']).map((g) => (JSON.parse(g.body) as { text: string }).text);
    expect(slack.some((t) => t.includes('`gpu-w1` is now *untrusted* (was trusted)'))).toBe(true);

    const text = await (await fetch(`${fleet.collector.url}/metrics`)).text();
    const v = (re: RegExp) => Number(re.exec(text)?.[1]);
    expect(v(/^nodeseal_agents_connected (\d+)$/m)).toBe(1);
    expect(v(/^nodeseal_nodes\{status="untrusted"\} (\d+)$/m)).toBe(1);
    expect(v(/^nodeseal_reports_verified_total\{status="untrusted",kind="fresh"\} (\d+)$/m)).toBe(1);
    expect(v(/^nodeseal_drift_total\{code="gpu.vbios_changed"\} (\d+)$/m)).toBe(1);
    expect(v(/^nodeseal_verification_duration_seconds_count (\d+)$/m)).toBeGreaterThanOrEqual(2);
    expect(v(/^nodeseal_alert_attempts_total\{outcome="delivered"\} (\d+)$/m)).toBeGreaterThanOrEqual(4);
  });
});
