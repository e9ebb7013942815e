import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import receiptVerb from '../../../collector/src/cli/receipt.js';
import verifyVerb from '../../../collector/src/cli/receipt-verify.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { loadOrCreateReceiptKey, receiptRoutes, RECEIPT_KEY_FILE, verifyReceipt } from '../../../collector/src/receipt.js';
import type { NodeRecord } from '../../../collector/src/store/store.js';
import { createTrust, type TrustModule } from '../../../collector/src/trust/index.js';
import { serveRoutes } from './serve-routes.js';
import { captureIo } from '../../helpers/cli.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

function rec(nodeId: string, status: NodeRecord['status'], inv: string): NodeRecord {
  const now = new Date(Date.now() - 5000).toISOString();
  return {
    nodeId,
    jwk: null,
    kid: `kid-${nodeId}`,
    akPublic: null,
    lastSeq: 7,
    status,
    reasons: status === 'untrusted' ? [{ code: 'gpu.replaced', claim: 'hardware', detail: 'GPU 3 serial changed' }] : [],
    firstSeenAt: now,
    lastSeenAt: now,
    verifiedAt: now,
    enrolledVia: 'tofu',
    revokedAt: null,
    summary: {
      gpuCount: 8,
      gpuModel: 'NVIDIA H100 80GB HBM3',
      driver: '550.54.15',
      vbios: [],
      biosVersion: '1.2',
      inventoryDigest: digest(inv),
      pcrDigest: digest('f'),
    },
  };
}

const capture = captureIo;

describe('job receipts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-receipt-'));
  const nodes = [rec('gpu001', 'trusted', 'a'), rec('gpu002', 'trusted', 'b'), rec('gpu003', 'untrusted', 'c')];
  let trust: TrustModule;
  let srv: Awaited<ReturnType<typeof serveRoutes>>;

  beforeAll(async () => {
    const store = {
      listNodes: async () => ({ nodes, total: nodes.length }),
      getNode: async (id: string) => nodes.find((n) => n.nodeId === id) ?? null,
    };
    trust = await createTrust({ store, events: new CollectorEvents(), cache: { sweepMs: 0 } });
    const key = await loadOrCreateReceiptKey(join(dir, 'state'));
    srv = await serveRoutes([...trust.routes, ...receiptRoutes({ key, cache: trust.cache, store })]);
  });
  afterAll(async () => {
    trust.close();
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the key once, 0600, and loads the same key later', async () => {
    const file = join(dir, 'state', RECEIPT_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateReceiptKey(join(dir, 'state'));
    const served = (await (await fetch(`${srv.url}/v1/receipt/key`)).json()) as { kid: string; d?: string; kty: string };
    expect(served.kid).toBe(again.kid);
    expect(served.d).toBeUndefined();
    expect(served.kty).toBe('EC');
  });

  it('GET /v1/receipt signs each node state; verify checks it', async () => {
    const r = await fetch(`${srv.url}/v1/receipt?nodes=gpu%5B001-003%5D,gpu009`);
    const { receipt } = (await r.json()) as { receipt: string };
    const key = await (await fetch(`${srv.url}/v1/receipt/key`)).json();
    const p = await verifyReceipt(receipt, key);
    expect(p.nodes.map((n) => [n.nodeId, n.status, n.inventoryDigest])).toEqual([
      ['gpu001', 'trusted', digest('a')],
      ['gpu002', 'trusted', digest('b')],
      ['gpu003', 'untrusted', digest('c')],
      ['gpu009', 'unknown', null],
    ]);
    expect(p.nodes[0]!.pcrDigest).toBe(digest('f'));
    expect(p.nodes[0]!.agentKid).toBe('kid-gpu001');
    expect(Date.parse(p.issuedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('GET /v1/receipt without nodes is ERR_RECEIPT_QUERY', async () => {
    const r = await fetch(`${srv.url}/v1/receipt`);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('ERR_RECEIPT_QUERY');
  });

  it('CLI: receipt --out FILE, then receipt verify FILE --key, tampering and wrong keys fail with codes', async () => {
    const out = join(dir, 'job.receipt');
    const io = capture();
    expect(await receiptVerb.run(['--nodes', 'gpu[001-002]', '--url', srv.url, '--out', out], io)).toBe(0);
    expect(io.out).toMatch(/gpu001\s+trusted/);
    const keyFile = join(dir, 'collector.jwk');
    writeFileSync(keyFile, await (await fetch(`${srv.url}/v1/receipt/key`)).text());

    const ok = capture();
    expect(await verifyVerb.run([out, '--key', keyFile, '--require-trusted'], ok)).toBe(0);
    expect(ok.out).toContain('valid receipt');

    // A receipt naming an untrusted node: valid, but --require-trusted refuses it.
    const bad = join(dir, 'bad.receipt');
    const jsonIo = capture();
    await receiptVerb.run(['--nodes', 'gpu003', '--url', srv.url, '--json'], jsonIo);
    writeFileSync(bad, jsonIo.out);
    const refused = capture();
    expect(await verifyVerb.run([bad, '--key', keyFile, '--require-trusted'], refused)).toBe(1);
    expect(refused.err).toContain('gpu003=untrusted');

    // Tampered payload: the signature no longer verifies.
    const [h, payload, sig] = readFileSync(out, 'utf8').trim().split('.');
    const forged = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { nodes: { status: string }[] };
    forged.nodes[0]!.status = 'trusted';
    forged.nodes.push({ ...forged.nodes[0]!, status: 'trusted' });
    writeFileSync(out, `${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`);
    await expect(verifyVerb.run([out, '--key', keyFile], capture())).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE' });

    // Another collector's key.
    const other = await loadOrCreateReceiptKey(join(dir, 'other'));
    writeFileSync(keyFile, JSON.stringify(other.publicJwk));
    await expect(verifyVerb.run([bad, '--key', keyFile], capture())).rejects.toMatchObject({ code: 'ERR_JWS_KID' });
  });

  it('CLI: usage mistakes are ERR_USAGE; an unreachable collector is exit 3', async () => {
    await expect(receiptVerb.run(['--url', srv.url], capture())).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(verifyVerb.run([], capture())).rejects.toMatchObject({ code: 'ERR_USAGE' });
    const io = capture({ NODESEAL_CLI_CONFIG: '/nonexistent' });
    expect(await receiptVerb.run(['--nodes', 'gpu001', '--url', 'http://127.0.0.1:9', '--token', 't'], io)).toBe(3);
    expect(io.err).toContain('ERR_CLI_UNREACHABLE');
  });
});
