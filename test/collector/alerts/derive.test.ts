import { describe, expect, it } from 'vitest';
import { ADOPT, deriveAlerts } from '../../../collector/src/alerts/derive.js';
import type { ChangeRecord, NodeRecord } from '../../../collector/src/store/store.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const node = (over: Partial<NodeRecord>): NodeRecord => ({
  nodeId: 'n1',
  jwk: null,
  kid: 'k',
  akPublic: null,
  lastSeq: 3,
  status: 'trusted',
  reasons: [],
  firstSeenAt: iso(T0),
  lastSeenAt: iso(T0),
  verifiedAt: iso(T0),
  enrolledVia: 'tofu',
  revokedAt: null,
  summary: null,
  ...over,
});
const change = (id: number, seq: number, code: string): ChangeRecord => ({
  id,
  nodeId: 'n1',
  seq,
  at: iso(T0 + seq),
  code,
  claim: 'firmware',
  detail: code,
  before: 'a',
  after: 'b',
});

describe('deriveAlerts (alert cursor, pure)', () => {
  it('groups change rows past the cursor into one drift alert per report, then the status they led to', () => {
    const n = node({ status: 'untrusted', reasons: [{ code: 'gpu.vbios_changed', claim: 'firmware', detail: 'x' }] });
    const { events, next } = deriveAlerts(
      { statusKey: 'trusted ', driftSeq: 1 },
      'n1',
      n,
      [change(1, 1, 'old'), change(2, 2, 'gpu.vbios_changed'), change(3, 2, 'gpu.driver_changed'), change(4, 3, 'gpu.removed')],
      T0,
      180,
    );
    expect(
      events.map((e) => (e.kind === 'drift' ? `drift#${e.seq}:${e.reasons.map((r) => r.code).join('+')}` : `${e.from}>${e.to}`)),
    ).toEqual(['drift#2:gpu.vbios_changed+gpu.driver_changed', 'drift#3:gpu.removed', 'trusted>untrusted']);
    expect(next).toEqual({ statusKey: 'untrusted gpu.vbios_changed', driftSeq: 3 });
  });

  it('is silent when the cursor already covers the node, for a node never verified, and when adopting', () => {
    expect(deriveAlerts({ statusKey: 'trusted ', driftSeq: 3 }, 'n1', node({}), [], T0, 180).events).toEqual([]);
    expect(deriveAlerts({ statusKey: null, driftSeq: -1 }, 'n1', node({ status: 'unknown', verifiedAt: null }), [], T0, 180)).toEqual({
      events: [],
      next: { statusKey: null, driftSeq: -1 },
    });
    expect(deriveAlerts({ statusKey: ADOPT, driftSeq: 3 }, 'n1', node({}), [], T0, 180)).toEqual({
      events: [],
      next: { statusKey: 'trusted ', driftSeq: 3 },
    });
  });

  it('reads stale by the trust cache rule (TTL passed in) and alerts a first verdict from null', () => {
    const stale = deriveAlerts({ statusKey: 'trusted ', driftSeq: 3 }, 'n1', node({}), [], T0 + 181_000, 180);
    expect(stale.events).toEqual([
      expect.objectContaining({
        kind: 'status-changed',
        from: 'trusted',
        to: 'stale',
        reasons: [expect.objectContaining({ code: 'freshness.expired' })],
        at: iso(T0 + 181_000),
      }),
    ]);
    expect(deriveAlerts({ statusKey: 'trusted ', driftSeq: 3 }, 'n1', node({}), [], T0 + 181_000, Number.POSITIVE_INFINITY).events).toEqual(
      [],
    );
    const first = deriveAlerts({ statusKey: null, driftSeq: -1 }, 'n1', node({}), [], T0, 180, '2026-11-25T10:00:01.000Z');
    expect(first.events).toEqual([expect.objectContaining({ from: null, to: 'trusted', at: '2026-11-25T10:00:01.000Z' })]);
  });

  it('alerts a revoked node even if it was never verified', () => {
    const { events } = deriveAlerts(
      { statusKey: null, driftSeq: -1 },
      'n1',
      node({ status: 'unknown', verifiedAt: null, revokedAt: iso(T0) }),
      [],
      T0,
      180,
    );
    expect(events).toEqual([
      expect.objectContaining({ from: null, to: 'untrusted', reasons: [expect.objectContaining({ code: 'node.revoked' })] }),
    ]);
  });
});
