import { HttpError } from '../http/router.js';

/** No `Authorization: Bearer` header on a route that needs a role. */
export const ERR_AUTH_REQUIRED = 'ERR_AUTH_REQUIRED';
/** A bearer token was given but is malformed, unknown or revoked. */
export const ERR_AUTH_INVALID = 'ERR_AUTH_INVALID';
/** The token is valid but its role is below the route's. */
export const ERR_AUTH_FORBIDDEN = 'ERR_AUTH_FORBIDDEN';
/** Token management input (role, name, bootstrap token) is invalid. */
export const ERR_AUTH_TOKEN_INPUT = 'ERR_AUTH_TOKEN_INPUT';
/** A token with this name already exists (names are unique, revoked ones included). */
export const ERR_AUTH_TOKEN_EXISTS = 'ERR_AUTH_TOKEN_EXISTS';
/** No token with this name. */
export const ERR_AUTH_TOKEN_UNKNOWN = 'ERR_AUTH_TOKEN_UNKNOWN';
/** Revocation or audit request names a node the collector does not know. */
export const ERR_AUTH_NODE_UNKNOWN = 'ERR_AUTH_NODE_UNKNOWN';

export function authRequired(): HttpError {
  return new HttpError(401, ERR_AUTH_REQUIRED, 'this request needs an Authorization: Bearer token');
}

export function authInvalid(): HttpError {
  // One message for every cause (malformed, unknown, revoked) so a caller learns nothing about which.
  return new HttpError(401, ERR_AUTH_INVALID, 'the bearer token is not valid');
}

export function authForbidden(need: string, have: string): HttpError {
  return new HttpError(403, ERR_AUTH_FORBIDDEN, `this request needs the ${need} role; the token has ${have}`);
}
