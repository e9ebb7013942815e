import { NodesealError } from '../../../shared/src/errors.js';
import type { Role } from '../http/router.js';
import { ERR_AUTH_TOKEN_INPUT } from './errors.js';
import type { AuthStore } from './store.js';
import { API_TOKEN_PREFIX, generateToken, hashToken } from './token.js';

const roles: readonly Role[] = ['viewer', 'scheduler', 'operator'];
const nameRe = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Makes an API token, stores its hash with an audit entry, and returns the token (shown once). */
export async function createApiToken(
  store: Pick<AuthStore, 'createToken'>,
  o: { name: string; role: Role; actor: string; reason: string; now: Date; random?: (n: number) => Buffer },
): Promise<{ name: string; role: Role; token: string; createdAt: string }> {
  if (!roles.includes(o.role)) throw new NodesealError(ERR_AUTH_TOKEN_INPUT, `role must be one of ${roles.join(', ')}`);
  if (!nameRe.test(o.name)) throw new NodesealError(ERR_AUTH_TOKEN_INPUT, 'name must be 1-64 letters, digits, . _ @ -');
  const token = generateToken(API_TOKEN_PREFIX, o.random);
  const createdAt = o.now.toISOString();
  await store.createToken({ name: o.name, role: o.role, tokenHash: hashToken(token), createdAt, createdBy: o.actor }, o.reason);
  return { name: o.name, role: o.role, token, createdAt };
}
