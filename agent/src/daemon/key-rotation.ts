import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { generateIdentity, importPrivateJwk, publicPart, thumbprint, type Identity, type JWK } from '../../../shared/src/jws/index.js';
import { writeFileAtomic } from './atomic.js';
import { AgentError, ERR_AGENT_IDENTITY } from './errors.js';
import { IDENTITY_FILE } from './identity.js';

/**
 * JWS key rotation on the agent: the next key is made and kept in `identity.next.jwk` (0600)
 * until the collector has accepted its announcement (a report signed by the current key with
 * `nextKey`); then it replaces `identity.jwk` by an atomic rename. A rotation interrupted by a
 * restart resumes with the same next key.
 */
export const NEXT_IDENTITY_FILE = 'identity.next.jwk';

export type SigningIdentity = Identity & { signingKey: Awaited<ReturnType<typeof importPrivateJwk>> };

async function fromPrivateJwk(jwk: JWK, path: string): Promise<SigningIdentity> {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string')
    throw new AgentError(ERR_AGENT_IDENTITY, `${path} is not an EC P-256 private JWK`);
  const pub = publicPart(jwk);
  const kid = await thumbprint(pub);
  return { alg: 'ES256', kid, privateJwk: jwk, publicJwk: { ...pub, kid, alg: 'ES256' }, signingKey: await importPrivateJwk(jwk, 'ES256') };
}

/** The pending next identity, or null when no rotation is in progress. */
export async function loadNextIdentity(stateDir: string): Promise<SigningIdentity | null> {
  const path = join(stateDir, NEXT_IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AgentError(ERR_AGENT_IDENTITY, `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch (e) {
    throw new AgentError(ERR_AGENT_IDENTITY, `${path} is not JSON`, { cause: e });
  }
  return fromPrivateJwk(jwk, path);
}

/** The next identity: the pending one, or a new ES256 key written (0600) before it is used. */
export async function prepareNextIdentity(stateDir: string): Promise<SigningIdentity> {
  const pending = await loadNextIdentity(stateDir);
  if (pending) return pending;
  const id = await generateIdentity('ES256');
  await writeFileAtomic(join(stateDir, NEXT_IDENTITY_FILE), `${JSON.stringify(id.privateJwk)}\n`, 0o600);
  return { ...id, signingKey: await importPrivateJwk(id.privateJwk, 'ES256') };
}

/** Makes the next identity the current one (atomic rename over identity.jwk). */
export async function promoteNextIdentity(stateDir: string): Promise<void> {
  await rename(join(stateDir, NEXT_IDENTITY_FILE), join(stateDir, IDENTITY_FILE));
}
