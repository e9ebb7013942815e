import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, importPublicJwk, signCompact, type Identity } from '../../../shared/src/jws/index.js';
import { softwareQuote } from '../../../shared/src/tpm/index.js';
import { inventoryDigest } from '../../../shared/src/inventory/canonicalise.js';
import { REPORT_JWS_TYP, type Inventory, type Reason, type ReportPayload } from '../../../shared/src/report/types.js';
import { createEvidencePorts } from '../../../collector/src/pipeline/ports.js';
import { verifyReport, type ReportContext } from '../../../collector/src/pipeline/verify-report.js';
import type { Baseline, NodeRecord } from '../../../collector/src/store/store.js';
import { clone, recordedInventory } from '../drift/hosts.js';

/**
 * The inventory's Secure Boot claim (efivars, read by the agent) against the Secure Boot state
 * measured into PCR7 of a real event log that replays against a quote made over its PCRs
 * (software AK, TPM wire formats). The whole pipeline runs: JWS, quote, replay, drift, verdict.
 */
const LOGS = {
  // SOURCES.md: RHEL 8 GCE Shielded VM, Secure Boot enabled.
  enabled: 'test/fixtures/eventlogs/go-tpm-tools/rhel8-uefi',
  // SOURCES.md: Ubuntu 21.04 GCE Shielded VM, Secure Boot disabled.
  disabled: 'test/fixtures/eventlogs/go-tpm-tools/ubuntu-2104-no-secure-boot',
} as const;

const ak = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
let id: Identity;
let inv: Inventory;
beforeAll(async () => {
  id = await generateIdentity('ES256');
  inv = await recordedInventory('gpu8');
});

function withClaim(enabled: boolean | null): Inventory {
  const i = clone(inv);
  i.secureBoot = enabled === null ? null : { enabled, setupMode: false };
  return i;
}

/** A signed report whose quote covers the log's sha256 PCRs; eventLog false sends none. */
async function report(log: keyof typeof LOGS, inventory: Inventory, opts: { eventLog?: boolean; seq?: number } = {}) {
  const bytes = readFileSync(`${LOGS[log]}.bin`);
  const banks = (JSON.parse(readFileSync(`${LOGS[log]}.pcrs.json`, 'utf8')) as { banks: Record<string, Record<string, string>> }).banks;
  const sha256 = banks.sha256!;
  const nonce = randomBytes(16).toString('hex');
  const selection = [
    {
      bank: 'sha256' as const,
      pcrs: Object.keys(sha256)
        .map(Number)
        .sort((a, b) => a - b),
    },
  ];
  const q = softwareQuote({ privateKey: ak, nonce: Buffer.from(nonce, 'hex'), pcrs: { sha256 }, selection });
  const payload: ReportPayload = {
    v: 1,
    nodeId: 'n1',
    seq: opts.seq ?? 1,
    nonce,
    collectedAt: '2026-01-01T00:00:00.000Z',
    inventory,
    inventoryDigest: inventoryDigest(inventory),
    tpm: {
      status: 'ok',
      pcrs: { sha256 },
      quote: { attest: q.attest.toString('hex'), signature: q.signature.toString('hex') },
      akPublic: q.akPublic.toString('hex'),
      eventLog: opts.eventLog === false ? null : bytes.toString('base64'),
    },
  };
  const jws = await signCompact(payload, createPrivateKey({ key: id.privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' }), {
    alg: 'ES256',
    kid: id.kid,
    typ: REPORT_JWS_TYP,
  });
  return { jws, nonce, payload, akPublic: q.akPublic.toString('hex') };
}

function ctx(nonce: string, akPublic: string, baseline: Baseline | null = null): ReportContext {
  const node: NodeRecord = {
    nodeId: 'n1',
    jwk: null,
    kid: id.kid,
    akPublic,
    lastSeq: 0,
    status: 'unknown',
    reasons: [],
    firstSeenAt: '2026-01-01T00:00:00.000Z',
    lastSeenAt: null,
    verifiedAt: null,
    enrolledVia: 'tofu',
    revokedAt: null,
    summary: null,
  };
  return {
    helloNodeId: 'n1',
    pinned: { key: importPublicJwk(id.publicJwk).key, kid: id.kid, alg: 'ES256' },
    node,
    baseline,
    issuedNonces: new Set([nonce]),
    usedNonces: new Set(),
  };
}

const codes = (rs: Reason[]) => rs.map((r) => r.code);

async function verify(
  log: keyof typeof LOGS,
  claim: boolean | null,
  opts: { eventLog?: boolean; baseline?: (r: { payload: ReportPayload }) => Baseline } = {},
) {
  const r = await report(log, withClaim(claim), opts);
  return verifyReport(r.jws, ctx(r.nonce, r.akPublic, opts.baseline ? opts.baseline(r) : null), createEvidencePorts());
}

const baselineOf =
  (log: keyof typeof LOGS, claim: boolean) =>
  (r: { payload: ReportPayload }): Baseline => {
    const i = withClaim(claim);
    const tpm = r.payload.tpm as Extract<ReportPayload['tpm'], { status: 'ok' }>;
    return {
      nodeId: 'n1',
      inventory: i,
      inventoryDigest: inventoryDigest(i),
      pcrs: tpm.pcrs,
      eventLog: readFileSync(`${LOGS[log]}.bin`).toString('base64'),
      approvedBy: 'tofu',
      reason: 'r',
      createdAt: '2026-01-01T00:00:00.000Z',
    };
  };

describe('Secure Boot claim against the measured boot (real event logs)', () => {
  it('an honest claim stays trusted, enabled and disabled', async () => {
    for (const [log, claim] of [
      ['enabled', true],
      ['disabled', false],
    ] as const) {
      const v = await verify(log, claim);
      expect(v.verdict.status, log).toBe('trusted');
      expect(codes(v.verdict.reasons), log).not.toContain('secureboot.claim_mismatch');
    }
  });

  it('a node claiming Secure Boot enabled while the measured boot has it disabled is untrusted', async () => {
    const v = await verify('disabled', true);
    expect(v.verdict.status).toBe('untrusted');
    const r = v.verdict.reasons.find((x) => x.code === 'secureboot.claim_mismatch');
    expect(r).toMatchObject({ claim: 'configuration', before: { enabled: false }, after: { enabled: true } });
  });

  it('the opposite lie (claims disabled, measured enabled) is untrusted too', async () => {
    const v = await verify('enabled', false);
    expect(v.verdict.status).toBe('untrusted');
    expect(v.verdict.reasons.find((x) => x.code === 'secureboot.claim_mismatch')).toMatchObject({
      before: { enabled: true },
      after: { enabled: false },
    });
  });

  it('secureboot.disabled is decided on the measured state: baseline enabled, now measured disabled while still claiming enabled', async () => {
    const v = await verify('disabled', true, { baseline: baselineOf('enabled', true) });
    expect(v.verdict.status).toBe('untrusted');
    expect(codes(v.drift)).toEqual(expect.arrayContaining(['secureboot.claim_mismatch', 'secureboot.disabled']));
    expect(v.drift.find((x) => x.code === 'secureboot.disabled')).toMatchObject({ before: { enabled: true }, after: { enabled: false } });
  });

  it('an honest node against its own baseline has no Secure Boot drift (the unchanged shortcut still applies)', async () => {
    const v = await verify('enabled', true, { baseline: baselineOf('enabled', true) });
    expect(v.verdict.status).toBe('trusted');
    expect(v.drift).toEqual([]);
  });

  it('no event log: the claim stands as reported (nothing to compare it with)', async () => {
    const v = await verify('disabled', true, { eventLog: false });
    expect(v.verdict.status).toBe('trusted');
    expect(codes(v.verdict.reasons)).not.toContain('secureboot.claim_mismatch');
  });

  it('no claim (efivars unreadable) is not a contradiction, and compares with a baseline of the same kind without drift', async () => {
    const v = await verify('disabled', null);
    expect(v.verdict.status).toBe('trusted');
    for (const log of ['enabled', 'disabled'] as const) {
      const b = await verify(log, null, {
        baseline: (r) => {
          const i = withClaim(null);
          const tpm = r.payload.tpm as Extract<ReportPayload['tpm'], { status: 'ok' }>;
          return { ...baselineOf(log, true)(r), inventory: i, inventoryDigest: inventoryDigest(i), pcrs: tpm.pcrs };
        },
      });
      expect(b.drift, log).toEqual([]);
      expect(b.verdict.status, log).toBe('trusted');
    }
  });

  it('the evaluate port (approval path) measures from the stored log when the caller did not', async () => {
    const r = await report('disabled', withClaim(true));
    const tpm = r.payload.tpm as Extract<ReportPayload['tpm'], { status: 'ok' }>;
    const ports = createEvidencePorts();
    const v = ports.evaluate({
      evidence: { kind: 'fresh', inventory: r.payload.inventory, pcrs: tpm.pcrs, eventLog: tpm.eventLog, akPublic: tpm.akPublic, tpm },
      baseline: null,
      node: { akPublic: tpm.akPublic, revokedAt: null },
    });
    expect(v.status).toBe('untrusted');
    expect(codes(v.reasons)).toContain('secureboot.claim_mismatch');
  });
});
