import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EnrollService,
  EnrollStore,
  loadEkCaDir,
  createEnrollToken,
  type AdmitHello,
  type EnrollAnswer,
  type EnrollChallenge,
} from '../../../collector/src/enroll/index.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import type { Store } from '../../../collector/src/store/store.js';
import { parsePublic, publicKeyPem, tpmName } from '../../../shared/src/tpm/public.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';
import { activateIn, tpmAgent, type TpmAgent } from './tpm-agent.js';

const execFileP = promisify(execFile);

/**
 * Enrolment against real TPMs (two swtpm instances with EK certificates from swtpm's local CA),
 * a real SQLite file, and tpm2-tools as the agent's TPM stack. Every attack must fail with its
 * own code and leave every enrolment-related table exactly as it was.
 */
const SWTPM_CA_DIR = '/var/lib/swtpm-localca';

let tpmA: Swtpm;
let tpmB: Swtpm;
let agentA: TpmAgent;
let agentB: TpmAgent;
let dir: string;
let store: Store;
let enrollStore: EnrollStore;
let anchors: X509Certificate[];
let clock = new Date();
const now = () => clock;

async function snapshot(): Promise<unknown> {
  const tables = ['nodes', 'node_identities', 'enroll_tokens', 'ek_decisions', 'audit_log', 'api_tokens'];
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = await store.db.all(`SELECT * FROM ${t} ORDER BY 1`);
  return out;
}

function service(opts: { anchors?: X509Certificate[]; allowTofu?: boolean } = {}): EnrollService {
  return new EnrollService({ store: enrollStore, anchors: opts.anchors ?? anchors, allowTofu: opts.allowTofu ?? false, now });
}

async function token(nodes = '*', ttl = '1h', uses = '1'): Promise<string> {
  return (await createEnrollToken(enrollStore, { nodes, ttl, uses, actor: 'token:test-operator', reason: 'test', now: clock })).token;
}

function hello(agent: TpmAgent, nodeId: string, enrollToken: string | undefined, over: Partial<AdmitHello> = {}): AdmitHello {
  return {
    nodeId,
    kid: agent.identity.kid,
    jwk: agent.identity.publicJwk as Record<string, unknown>,
    ekPublic: agent.ekPublic,
    ekCert: agent.ekCert,
    akPublic: agent.akPublic,
    ...(enrollToken !== undefined ? { enrollToken } : {}),
    ...over,
  };
}

/** Runs an attack and checks its code and that nothing stored changed. */
async function refused(p: () => Promise<unknown>, code: string): Promise<void> {
  const before = await snapshot();
  await expect(p()).rejects.toMatchObject({ code });
  expect(await snapshot()).toEqual(before);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-enroll-test-'));
  [tpmA, tpmB] = await Promise.all([startSwtpm({ ekCert: true }), startSwtpm({ ekCert: true })]);
  agentA = await tpmAgent(tpmA, 'a');
  agentB = await tpmAgent(tpmB, 'b');
  store = await openSqliteStore(join(dir, 'collector.db'));
  enrollStore = new EnrollStore(store.db);
  anchors = await loadEkCaDir(SWTPM_CA_DIR);
  clock = new Date(Date.now() + 1000);
}, 60_000);

afterAll(async () => {
  await store?.close();
  await Promise.all([agentA?.close(), agentB?.close()]);
  await Promise.all([tpmA?.stop(), tpmB?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('enrolment with a TPM that has an EK certificate', () => {
  it('pins EK, AK and JWS key only after the credential is activated in the TPM', async () => {
    const t = await token('gpu-*');
    let duringChallenge: { identity: unknown; node: unknown } | null = null;
    const result = await service().admit(hello(agentA, 'gpu-001', t), {
      node: null,
      ask: async (c) => {
        duringChallenge = { identity: await enrollStore.getIdentity('gpu-001'), node: await store.getNode('gpu-001') };
        return agentA.activate(c);
      },
    });
    expect(duringChallenge).toEqual({ identity: null, node: null });
    expect(result.enrolledVia).toBe('token');
    expect(result.node).toMatchObject({
      nodeId: 'gpu-001',
      akPublic: agentA.akPublic,
      kid: agentA.identity.kid,
      enrolledVia: 'token',
      revokedAt: null,
    });
    const stored = await store.getNode('gpu-001');
    expect(stored?.akPublic).toBe(agentA.akPublic);
    const identity = await enrollStore.getIdentity('gpu-001');
    expect(identity?.ekName).toBe(tpmName(parsePublic(Buffer.from(agentA.ekPublic, 'hex'))).toString('hex'));
    expect(identity?.ekCertIssuer).toContain('swtpm-localca');
    const audit = await store.db.all("SELECT actor, action, target FROM audit_log WHERE action = 'node.enrol'");
    expect(audit).toEqual([{ actor: expect.stringMatching(/^enroll-token:[0-9a-f]{12}$/), action: 'node.enrol', target: 'node:gpu-001' }]);
    const [row] = await store.db.all('SELECT uses_left FROM enroll_tokens');
    expect(Number(row!.uses_left)).toBe(0);
  }, 30_000);

  it('an already enrolled node says hello again without enrolment (no second identity)', async () => {
    await refused(() => service().admit({ nodeId: 'gpu-001', kid: agentB.identity.kid }, { node: null }), 'ERR_ENROLL_NODE_CLAIMED');
  });
});

describe('attacks on enrolment fail with their own code and change nothing', () => {
  it('EK certificate from an unknown CA', async () => {
    // The attacker's own CA certifies the real EK public key: right key, wrong issuer.
    const ca = join(dir, 'evil-ca');
    await execFileP('mkdir', ['-p', ca]);
    await execFileP('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(ca, 'ca.key'),
      '-out',
      join(ca, 'ca.pem'),
      '-subj',
      '/CN=swtpm-localca',
      '-days',
      '3650',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ]);
    await writeFile(join(ca, 'ek.pem'), publicKeyPem(parsePublic(Buffer.from(agentB.ekPublic, 'hex'))));
    await execFileP('openssl', [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(ca, 'tmp.key'),
      '-subj',
      '/CN=unknown',
      '-out',
      join(ca, 'ek.csr'),
    ]);
    await execFileP('openssl', [
      'x509',
      '-req',
      '-in',
      join(ca, 'ek.csr'),
      '-CA',
      join(ca, 'ca.pem'),
      '-CAkey',
      join(ca, 'ca.key'),
      '-force_pubkey',
      join(ca, 'ek.pem'),
      '-out',
      join(ca, 'ek-cert.der'),
      '-outform',
      'DER',
      '-days',
      '365',
      '-set_serial',
      '7',
    ]);
    const forged = (await readFile(join(ca, 'ek-cert.der'))).toString('base64');
    const t = await token();
    await refused(
      () => service().admit(hello(agentB, 'gpu-002', t, { ekCert: forged }), { node: null, ask: (c) => agentB.activate(c) }),
      'ERR_ENROLL_EK_CERT_UNTRUSTED',
    );
    // And the genuine swtpm certificate against a CA directory that does not hold swtpm's CA.
    await rm(join(ca, 'ek.pem'));
    const evilAnchors = await loadEkCaDir(ca);
    await refused(
      () => service({ anchors: evilAnchors }).admit(hello(agentB, 'gpu-002', t), { node: null, ask: (c) => agentB.activate(c) }),
      'ERR_ENROLL_EK_CERT_UNTRUSTED',
    );
  }, 30_000);

  it("another TPM's valid EK certificate presented with this EK", async () => {
    const t = await token();
    await refused(
      () => service().admit(hello(agentB, 'gpu-002', t, { ekCert: agentA.ekCert }), { node: null, ask: (c) => agentB.activate(c) }),
      'ERR_ENROLL_EK_CERT_MISMATCH',
    );
  }, 30_000);

  it('an AK from another swtpm than the EK: activation fails in both TPMs', async () => {
    const t = await token();
    let tried = 0;
    await refused(
      () =>
        service().admit(hello(agentB, 'gpu-002', t, { akPublic: agentA.akPublic }), {
          node: null,
          ask: async (c: EnrollChallenge): Promise<EnrollAnswer> => {
            // The attacker holds both TPMs and tries each: B has the EK but not the AK, A the AK but not the EK.
            for (const [tpm, agent] of [
              [tpmB, agentB],
              [tpmA, agentA],
            ] as const) {
              await expect(activateIn(tpm, agent.dir, agent.akCtx, c)).rejects.toThrow(/tpm2_activatecredential|Command failed/);
              tried++;
            }
            return { challengeId: c.challengeId, credential: '00'.repeat(32) };
          },
        }),
      'ERR_ENROLL_ACTIVATION',
    );
    expect(tried).toBe(2);
  }, 30_000);

  it('a replayed activation answer', async () => {
    // A genuine enrolment of gpu-002 whose answer an eavesdropper records ...
    const t1 = await token();
    let recorded: EnrollAnswer | null = null;
    await service().admit(hello(agentB, 'gpu-002', t1), { node: null, ask: async (c) => (recorded = await agentB.activate(c)) });
    // ... and replays to enrol a node of its own under another name with a stolen token.
    const t2 = await token();
    await refused(() => service().admit(hello(agentB, 'gpu-003', t2), { node: null, ask: async () => recorded! }), 'ERR_ENROLL_REPLAY');
    // Same challenge id, credential of the earlier challenge.
    await refused(
      () =>
        service().admit(hello(agentB, 'gpu-003', t2), {
          node: null,
          ask: async (c) => ({ challengeId: c.challengeId, credential: recorded!.credential }),
        }),
      'ERR_ENROLL_ACTIVATION',
    );
  }, 30_000);

  it('an enrolment token reused, expired, for another node, unknown, or missing', async () => {
    const used = await token();
    const fresh = await createEnrollToken(enrollStore, {
      nodes: 'cpu-*',
      ttl: '1h',
      uses: '1',
      actor: 'token:test-operator',
      reason: 'test',
      now: clock,
    });
    // Spend `used` on a real enrolment first.
    await service().admit(hello(agentB, 'gpu-010', used), { node: null, ask: (c) => agentB.activate(c) });
    const ask = (c: EnrollChallenge) => agentB.activate(c);
    await refused(() => service().admit(hello(agentB, 'gpu-011', used), { node: null, ask }), 'ERR_ENROLL_TOKEN_USED');
    await refused(() => service().admit(hello(agentB, 'gpu-011', fresh.token), { node: null, ask }), 'ERR_ENROLL_TOKEN_NODE');
    const shortLived = await token('*', '60s');
    const saved = clock;
    clock = new Date(clock.getTime() + 61_000);
    try {
      await refused(() => service().admit(hello(agentB, 'gpu-011', shortLived), { node: null, ask }), 'ERR_ENROLL_TOKEN_EXPIRED');
    } finally {
      clock = saved;
    }
    await refused(
      () => service().admit(hello(agentB, 'gpu-011', `nse_${'A'.repeat(43)}`), { node: null, ask }),
      'ERR_ENROLL_TOKEN_INVALID',
    );
    await refused(() => service().admit(hello(agentB, 'gpu-011', undefined), { node: null, ask }), 'ERR_ENROLL_TOKEN_REQUIRED');
    await refused(() => service().admit({ nodeId: 'gpu-011', kid: agentB.identity.kid }, { node: null }), 'ERR_ENROLL_NOT_ENROLLED');
  }, 60_000);

  it('a second node claiming an enrolled node id with its own TPM and key', async () => {
    const t = await token();
    const node = await store.getNode('gpu-001');
    await refused(() => service().admit(hello(agentB, 'gpu-001', t), { node, ask: (c) => agentB.activate(c) }), 'ERR_ENROLL_NODE_CLAIMED');
  }, 30_000);

  it('a node pinned by trust on first use cannot be taken over by enrolling another key', async () => {
    const at = clock.toISOString();
    await store.upsertNode({
      nodeId: 'lab-tofu',
      jwk: agentA.identity.publicJwk as Record<string, unknown>,
      kid: agentA.identity.kid,
      akPublic: null,
      lastSeq: 3,
      status: 'trusted',
      reasons: [],
      firstSeenAt: at,
      lastSeenAt: at,
      verifiedAt: at,
      enrolledVia: 'tofu',
      revokedAt: null,
      summary: null,
    });
    const t = await token();
    const node = await store.getNode('lab-tofu');
    await refused(() => service().admit(hello(agentB, 'lab-tofu', t), { node, ask: (c) => agentB.activate(c) }), 'ERR_ENROLL_NODE_CLAIMED');
  }, 30_000);

  it('a revoked node reconnecting; it enrols again only with a new token', async () => {
    const done = await enrollStore.revokeNode('gpu-010', 'token:test-operator', 'decommissioned for inspection', clock.toISOString());
    expect(done?.node).toMatchObject({ status: 'untrusted', revokedAt: clock.toISOString() });
    const node = await store.getNode('gpu-010');
    await refused(() => service().admit({ nodeId: 'gpu-010', kid: agentB.identity.kid }, { node }), 'ERR_ENROLL_REVOKED');
    await refused(
      () => service().admit(hello(agentB, 'gpu-010', undefined), { node, ask: (c) => agentB.activate(c) }),
      'ERR_ENROLL_REVOKED',
    );
    const t = await token('gpu-010');
    const again = await service().admit(hello(agentB, 'gpu-010', t), { node, ask: (c) => agentB.activate(c) });
    expect(again.node).toMatchObject({ revokedAt: null, status: 'unknown', enrolledVia: 'token' });
    expect((await enrollStore.getIdentity('gpu-010'))?.revokedAt).toBeNull();
  }, 30_000);
});

describe('a TPM without an EK certificate', () => {
  it('is enrolled only after an operator records a decision for that EK', async () => {
    const t = await token('lab-*', '1h', '2');
    const h = hello(agentA, 'lab-1', t, { ekCert: null });
    const ask = (c: EnrollChallenge) => agentA.activate(c);
    let ekName = '';
    const before = await snapshot();
    await expect(service().admit(h, { node: null, ask })).rejects.toSatisfy((e: { code: string; details: { ekName: string } }) => {
      ekName = e.details.ekName;
      return e.code === 'ERR_ENROLL_EK_CERT_MISSING';
    });
    expect(await snapshot()).toEqual(before);
    // A decision for another EK does not help.
    await enrollStore.recordEkDecision({
      nodeId: 'lab-1',
      ekName: tpmName(parsePublic(Buffer.from(agentB.ekPublic, 'hex'))).toString('hex'),
      actor: 'token:ops',
      reason: 'wrong TPM',
      at: clock.toISOString(),
    });
    await refused(() => service().admit(h, { node: null, ask }), 'ERR_ENROLL_EK_CERT_MISSING');
    await enrollStore.recordEkDecision({
      nodeId: 'lab-1',
      ekName,
      actor: 'token:ops',
      reason: 'lab machine, TPM without vendor certificate',
      at: clock.toISOString(),
    });
    const r = await service().admit(h, { node: null, ask });
    expect(r.enrolledVia).toBe('operator');
    const audit = await store.db.all("SELECT actor, action, reason FROM audit_log WHERE target = 'node:lab-1' ORDER BY id");
    expect(audit.map((a) => a.action)).toEqual(['node.ek-decision', 'node.ek-decision', 'node.enrol']);
    expect(audit[2]).toMatchObject({ actor: 'token:ops', reason: expect.stringContaining('lab machine') });
  }, 30_000);
});
