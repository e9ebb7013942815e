import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodesealError } from '../../shared/src/errors.js';
import {
  generateIdentity,
  importPrivateJwk,
  importPublicJwk,
  signCompact,
  thumbprint,
  verifyCompact,
  type Identity,
  type JWK,
} from '../../shared/src/jws/index.js';
import type { HostlistLimits } from '../../shared/src/hostlist.js';
import type { Reason, TrustStatus } from '../../shared/src/report/types.js';
import { z } from 'zod';
import { hostlistString } from './http/input.js';
import { type Route, route } from './http/router.js';
import type { Store } from './store/store.js';
import type { TrustCache } from './trust/cache.js';

/**
 * Job receipts: a JWS signed by the collector's own ES256 key stating, for each node a job
 * used, its verified state at that moment (trust verdict, inventory digest, PCR digest, times).
 * Kept with a training run's outputs, it is evidence of which attested hardware the run used.
 *
 *   GET /v1/receipt?nodes=EXPR   → {receipt: "<compact JWS>", kid}
 *   GET /v1/receipt/key          → the collector's public JWK (public route)
 *
 * The key is made on first start and kept in the collector's state dir (receipt-key.jwk, 0600).
 */
export const RECEIPT_JWS_TYP = 'nodeseal-receipt+jws';
export const RECEIPT_KEY_FILE = 'receipt-key.jwk';
export const ERR_RECEIPT_QUERY = 'ERR_RECEIPT_QUERY';
export const ERR_RECEIPT_KEY = 'ERR_RECEIPT_KEY';
export const ERR_RECEIPT_PAYLOAD = 'ERR_RECEIPT_PAYLOAD';

export interface ReceiptNode {
  nodeId: string;
  status: TrustStatus;
  reasons: Reason[];
  verifiedAt: string | null;
  expiresAt: string | null;
  inventoryDigest: string | null;
  pcrDigest: string | null;
  /** The agent key (RFC 7638 kid) pinned for the node. */
  agentKid: string | null;
}

export interface ReceiptPayload {
  v: 1;
  iss: string;
  jti: string;
  iat: number;
  issuedAt: string;
  nodes: ReceiptNode[];
}

/** Loads the collector's receipt key from stateDir, making one (0600) when none exists. */
export async function loadOrCreateReceiptKey(stateDir: string): Promise<Identity> {
  const file = join(stateDir, RECEIPT_KEY_FILE);
  let text: string | null = null;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new NodesealError(ERR_RECEIPT_KEY, `cannot read ${file}`, { cause: e });
  }
  if (text !== null) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(text) as JWK;
    } catch (e) {
      throw new NodesealError(ERR_RECEIPT_KEY, `${file} is not JSON`, { cause: e });
    }
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string')
      throw new NodesealError(ERR_RECEIPT_KEY, `${file} is not an EC P-256 private key`);
    const kid = await thumbprint(jwk);
    const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, kid, alg: 'ES256', use: 'sig' };
    return { alg: 'ES256', kid, privateJwk: { ...jwk, kid, alg: 'ES256' }, publicJwk };
  }
  const id = await generateIdentity('ES256');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(id.privateJwk), { mode: 0o600, flag: 'wx' });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return { ...id, publicJwk: { ...id.publicJwk, use: 'sig' } };
}

const imported = new WeakMap<Identity, Promise<Awaited<ReturnType<typeof importPrivateJwk>>>>();

export async function signReceipt(key: Identity, nodes: ReceiptNode[], now: Date, issuer = 'nodeseal-collector'): Promise<string> {
  const payload: ReceiptPayload = {
    v: 1,
    iss: issuer,
    jti: randomUUID(),
    iat: Math.floor(now.getTime() / 1000),
    issuedAt: now.toISOString(),
    nodes,
  };
  let p = imported.get(key);
  if (!p) imported.set(key, (p = importPrivateJwk(key.privateJwk, 'ES256')));
  const priv = await p;
  return signCompact(payload, priv, { alg: 'ES256', kid: key.kid, typ: RECEIPT_JWS_TYP });
}

/**
 * Verifies a receipt with the collector's public JWK (obtained out of band, or from
 * /v1/receipt/key). Signature failures keep the JWS codes (ERR_JWS_SIGNATURE, ERR_JWS_KID ...);
 * a payload that is not a receipt is ERR_RECEIPT_PAYLOAD.
 */
export async function verifyReceipt(jws: string, publicJwk: unknown): Promise<ReceiptPayload> {
  const { key, alg } = importPublicJwk(publicJwk);
  if (alg !== 'ES256') throw new NodesealError(ERR_RECEIPT_KEY, 'receipt keys are ES256');
  const kid = await thumbprint(publicJwk as JWK);
  const { payload } = await verifyCompact(jws.trim(), key, { typ: RECEIPT_JWS_TYP, kid, alg: 'ES256', maxBytes: 64 * 1024 * 1024 });
  let p: unknown;
  try {
    p = JSON.parse(new TextDecoder().decode(payload));
  } catch (e) {
    throw new NodesealError(ERR_RECEIPT_PAYLOAD, 'receipt payload is not JSON', { cause: e });
  }
  const r = p as Partial<ReceiptPayload>;
  if (!r || typeof r !== 'object' || r.v !== 1 || !Array.isArray(r.nodes) || typeof r.issuedAt !== 'string' || typeof r.jti !== 'string') {
    throw new NodesealError(ERR_RECEIPT_PAYLOAD, 'payload is not a nodeseal receipt');
  }
  for (const n of r.nodes) {
    if (!n || typeof n.nodeId !== 'string' || typeof n.status !== 'string')
      throw new NodesealError(ERR_RECEIPT_PAYLOAD, 'receipt node entry is malformed');
  }
  return r as ReceiptPayload;
}

/** Collects each node's state: trust from the cache (stale computed now), digests from the store. */
export async function receiptNodes(names: string[], cache: TrustCache, store: Pick<Store, 'getNode'>): Promise<ReceiptNode[]> {
  return Promise.all(
    names.map(async (nodeId) => {
      const t = cache.getOrUnknown(nodeId);
      const rec = await store.getNode(nodeId);
      return {
        nodeId,
        status: t.status,
        reasons: t.reasons,
        verifiedAt: t.verifiedAt,
        expiresAt: t.expiresAt,
        inventoryDigest: rec?.summary?.inventoryDigest ?? null,
        pcrDigest: rec?.summary?.pcrDigest ?? null,
        agentKid: rec?.kid ?? null,
      };
    }),
  );
}

export function receiptRoutes(deps: {
  key: Identity;
  cache: TrustCache;
  store: Pick<Store, 'getNode'>;
  now?: () => Date;
  maxNodes?: number;
  hostlistLimits?: Partial<HostlistLimits>;
}): Route[] {
  const maxNodes = deps.maxNodes ?? 4096;
  return [
    {
      method: 'GET',
      path: '/v1/receipt/key',
      role: 'public',
      handler: () => deps.key.publicJwk,
    },
    route({
      method: 'GET',
      path: '/v1/receipt',
      role: 'viewer',
      query: z.strictObject({
        nodes: hostlistString({ maxHosts: maxNodes, ...deps.hostlistLimits }).refine((n) => n.length > 0, {
          error: 'nodes=LIST is required (hostlist syntax, e.g. gpu[001-016])',
        }),
      }),
      codes: { query: ERR_RECEIPT_QUERY },
      handler: async ({ query }) => {
        const nodes = await receiptNodes(query.nodes, deps.cache, deps.store);
        const receipt = await signReceipt(deps.key, nodes, (deps.now ?? (() => new Date()))());
        return { receipt, kid: deps.key.kid };
      },
    }),
  ];
}
