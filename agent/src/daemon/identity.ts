import { mkdir, readFile, stat, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { generateIdentity, importPrivateJwk, publicPart, thumbprint, type Identity, type JWK } from '../../../shared/src/jws/index.js';
import { writeFileAtomic } from './atomic.js';
import { AgentError, ERR_AGENT_IDENTITY, ERR_AGENT_STATE_DIR } from './errors.js';

export const IDENTITY_FILE = 'identity.jwk';

/** Creates the state directory (0700) when missing; refuses one that is not a directory. */
export async function ensureStateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const s = await stat(dir);
    if (!s.isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new AgentError(ERR_AGENT_STATE_DIR, `cannot use state directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * The agent's signing identity: an ES256 key made with jose on first start and kept in
 * `<stateDir>/identity.jwk` (mode 0600). kid is the RFC 7638 thumbprint of the public key.
 */
export async function loadOrCreateIdentity(
  stateDir: string,
): Promise<Identity & { signingKey: Awaited<ReturnType<typeof importPrivateJwk>> }> {
  await ensureStateDir(stateDir);
  const path = join(stateDir, IDENTITY_FILE);
  let text: string | null = null;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new AgentError(ERR_AGENT_IDENTITY, `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (text === null) {
    const id = await generateIdentity('ES256');
    await writeFileAtomic(path, `${JSON.stringify(id.privateJwk)}\n`, 0o600);
    return { ...id, signingKey: await importPrivateJwk(id.privateJwk, 'ES256') };
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') throw new Error('not an EC P-256 private JWK');
  } catch (e) {
    throw new AgentError(ERR_AGENT_IDENTITY, `identity file ${path} is not a valid key: ${(e as Error).message}`, { cause: e });
  }
  const s = await stat(path);
  if ((s.mode & 0o077) !== 0) await chmod(path, 0o600);
  const pub = publicPart(jwk);
  const kid = await thumbprint(pub);
  const publicJwk = { ...pub, kid, alg: 'ES256' };
  return { alg: 'ES256', kid, privateJwk: jwk, publicJwk, signingKey: await importPrivateJwk(jwk, 'ES256') };
}
