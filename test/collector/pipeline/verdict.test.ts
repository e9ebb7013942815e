import { beforeAll, describe, expect, it } from 'vitest';
import type { Inventory, Reason } from '../../../shared/src/report/types.js';
import type { Baseline, NodeRecord } from '../../../collector/src/store/store.js';
import {
  STATUS_REASON,
  decideVerdict,
  effectiveVerdict,
  evaluate,
  expiresAt,
  isStale,
  type VerdictPolicyInput,
} from '../../../collector/src/pipeline/verdict.js';
import { clone, recordedInventory } from '../drift/hosts.js';

const drift: Reason = { code: 'gpu.vbios_changed', claim: 'firmware', detail: 'GPU 3 VBIOS a → b', before: 'a', after: 'b' };
const noTpm: Reason = { code: 'tpm.unavailable', claim: 'instance-identity', detail: 'no TPM evidence: no /dev/tpmrm0' };
const baseline = { nodeId: 'n1' } as Baseline;

describe('decideVerdict', () => {
  const cases: Array<{ name: string; input: VerdictPolicyInput; status: string; codes: string[] }> = [
    { name: 'verified TPM, no drift', input: { tpm: 'verified', reasons: [], baseline }, status: 'trusted', codes: [] },
    { name: 'first report, trust on first use', input: { tpm: 'verified', reasons: [], baseline: null }, status: 'trusted', codes: [] },
    {
      name: 'first report where first use is not allowed',
      input: { tpm: 'verified', reasons: [], baseline: null, allowFirstUse: false },
      status: 'unknown',
      codes: ['baseline.none'],
    },
    { name: 'any drift', input: { tpm: 'verified', reasons: [drift], baseline }, status: 'untrusted', codes: ['gpu.vbios_changed'] },
    {
      name: 'AK changed',
      input: { tpm: 'verified', reasons: [{ code: 'tpm.ak_changed', claim: 'instance-identity', detail: 'x' }], baseline },
      status: 'untrusted',
      codes: ['tpm.ak_changed'],
    },
    {
      name: 'an unknown reason code fails safe',
      input: { tpm: 'verified', reasons: [{ code: 'future.thing', claim: 'hardware', detail: 'x' }], baseline },
      status: 'untrusted',
      codes: ['future.thing'],
    },
    { name: 'no TPM evidence', input: { tpm: 'unavailable', reasons: [noTpm], baseline }, status: 'unknown', codes: ['tpm.unavailable'] },
    {
      name: 'no TPM evidence, reason added when the caller gave none',
      input: { tpm: 'unavailable', reasons: [], baseline },
      status: 'unknown',
      codes: ['tpm.unavailable'],
    },
    {
      name: 'no TPM evidence but drift: drift wins',
      input: { tpm: 'unavailable', reasons: [noTpm, drift], baseline },
      status: 'untrusted',
      codes: ['gpu.vbios_changed', 'tpm.unavailable'],
    },
    {
      name: 'history report (nonce null) never trusted',
      input: { tpm: 'verified', reasons: [], baseline, kind: 'history' },
      status: 'unknown',
      codes: ['report.history'],
    },
    {
      name: 'history report with drift',
      input: { tpm: 'verified', reasons: [drift], baseline, kind: 'history' },
      status: 'untrusted',
      codes: ['gpu.vbios_changed'],
    },
    {
      name: 'revoked node',
      input: { tpm: 'verified', reasons: [], baseline, revoked: true },
      status: 'untrusted',
      codes: ['node.revoked'],
    },
  ];
  it.each(cases)('$name → $status', (c) => {
    const v = decideVerdict(c.input);
    expect(v.status).toBe(c.status);
    expect(v.reasons.map((r) => r.code)).toEqual(c.codes);
  });
});

const node = (over: Partial<NodeRecord>): NodeRecord => ({
  nodeId: 'n1',
  jwk: null,
  kid: null,
  akPublic: null,
  lastSeq: 1,
  status: 'trusted',
  reasons: [],
  firstSeenAt: '2026-01-01T00:00:00.000Z',
  lastSeenAt: null,
  verifiedAt: '2026-01-01T00:00:00.000Z',
  enrolledVia: 'tofu',
  revokedAt: null,
  summary: null,
  ...over,
});

describe('freshness', () => {
  const n = node({});
  it('isStale turns true exactly at verifiedAt + TTL', () => {
    expect(isStale(n, '2026-01-01T00:02:59.999Z', 180)).toBe(false);
    expect(isStale(n, '2026-01-01T00:03:00.000Z', 180)).toBe(true);
    expect(isStale(n, new Date('2026-01-01T01:00:00Z'), 180)).toBe(true);
    expect(expiresAt(n, 180)?.toISOString()).toBe('2026-01-01T00:03:00.000Z');
  });
  it('a node never verified is not stale but unknown', () => {
    const fresh = node({ verifiedAt: null, status: 'unknown' });
    expect(isStale(fresh, Date.parse('2030-01-01T00:00:00Z'), 180)).toBe(false);
    expect(effectiveVerdict(fresh, '2030-01-01T00:00:00Z', 180)).toMatchObject({
      status: 'unknown',
      reasons: [{ code: STATUS_REASON.neverVerified }],
    });
  });
  it('a trusted node past its TTL reads stale; untrusted and unknown keep their status', () => {
    const later = '2026-01-01T00:10:00Z';
    expect(effectiveVerdict(n, later, 180)).toMatchObject({ status: 'stale', reasons: [{ code: 'freshness.expired' }] });
    expect(effectiveVerdict(n, '2026-01-01T00:01:00Z', 180)).toEqual({ status: 'trusted', reasons: [] });
    expect(effectiveVerdict(node({ status: 'untrusted', reasons: [drift] }), later, 180)).toEqual({
      status: 'untrusted',
      reasons: [drift],
    });
    expect(effectiveVerdict(node({ status: 'unknown', reasons: [noTpm] }), later, 180)).toEqual({ status: 'unknown', reasons: [noTpm] });
  });
  it('a revoked node reads untrusted whatever it last reported', () => {
    expect(effectiveVerdict(node({ revokedAt: '2026-01-01T00:00:30Z' }), '2026-01-01T00:01:00Z', 180)).toMatchObject({
      status: 'untrusted',
      reasons: [{ code: 'node.revoked' }],
    });
  });
});

describe('evaluate on a real inventory', () => {
  let inv: Inventory;
  let base: Baseline;
  const pcrs = { sha256: { '0': '11'.repeat(32), '4': '22'.repeat(32) } };
  beforeAll(async () => {
    inv = await recordedInventory('gpu8');
    base = {
      nodeId: 'gpu8',
      inventory: inv,
      inventoryDigest: 'sha256:x',
      pcrs,
      eventLog: null,
      approvedBy: 'tofu',
      reason: 'first use',
      createdAt: '2026-01-01T00:00:00Z',
    };
  });

  it('trusted when fresh evidence matches the baseline', () => {
    const v = evaluate({
      evidence: { kind: 'fresh', inventory: clone(inv), pcrs, eventLog: null, akPublic: 'aa' },
      baseline: base,
      node: { akPublic: 'aa', revokedAt: null },
    });
    expect(v).toEqual({ status: 'trusted', reasons: [], drift: [] });
  });

  it('untrusted with gpu.vbios_changed, tpm.pcr_changed and tpm.ak_changed together', () => {
    const cur = clone(inv);
    cur.gpus.find((g) => g.index === 3)!.vbiosVersion = '88.00.99.00.01';
    const v = evaluate({
      evidence: {
        kind: 'fresh',
        inventory: cur,
        pcrs: { sha256: { ...pcrs.sha256, '4': '33'.repeat(32) } },
        eventLog: null,
        akPublic: 'bb',
      },
      baseline: base,
      node: { akPublic: 'aa', revokedAt: null },
    });
    expect(v.status).toBe('untrusted');
    expect(v.reasons.map((r) => r.code)).toEqual(['tpm.ak_changed', 'gpu.vbios_changed', 'tpm.pcr_changed']);
    expect(v.drift).toEqual(v.reasons);
  });

  it('unknown without TPM evidence, naming why', () => {
    const v = evaluate({
      evidence: {
        kind: 'fresh',
        inventory: clone(inv),
        pcrs: null,
        eventLog: null,
        akPublic: null,
        tpm: { status: 'unavailable', reason: 'no TPM device', code: 'ERR_TPM_UNAVAILABLE' },
      },
      baseline: base,
      node: null,
    });
    expect(v.status).toBe('unknown');
    expect(v.reasons).toEqual([
      { code: 'tpm.unavailable', claim: 'instance-identity', detail: 'no TPM evidence: no TPM device (ERR_TPM_UNAVAILABLE)' },
    ]);
  });

  it('TPM evidence where the baseline had none is drift to approve, not silently trusted', () => {
    const v = evaluate({
      evidence: { kind: 'fresh', inventory: clone(inv), pcrs, eventLog: null, akPublic: 'aa' },
      baseline: { ...base, pcrs: null },
      node: { akPublic: null, revokedAt: null },
    });
    expect(v.status).toBe('untrusted');
    expect(v.reasons.map((r) => [r.code, r.detail])).toEqual([['tpm.pcr_changed', 'quoted PCR banks changed (none → sha256)']]);
  });

  it('a matching history report does not make the node trusted', () => {
    const v = evaluate({
      evidence: { kind: 'history', inventory: clone(inv), pcrs, eventLog: null, akPublic: 'aa' },
      baseline: base,
      node: { akPublic: 'aa', revokedAt: null },
    });
    expect(v.status).toBe('unknown');
    expect(v.reasons.map((r) => r.code)).toEqual(['report.history']);
  });
});
