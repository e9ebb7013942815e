/** The only JWS algorithms nodeseal accepts. Never `none`, never HS*: the verifier holds no secrets. */
export const ALLOWED_ALGS = ['ES256', 'EdDSA'] as const;
export type JwsAlg = (typeof ALLOWED_ALGS)[number];

export function isAllowedAlg(alg: unknown): alg is JwsAlg {
  return typeof alg === 'string' && (ALLOWED_ALGS as readonly string[]).includes(alg);
}

/** The key type each algorithm requires: a JWK of another type is refused before any crypto. */
export function expectedKty(alg: JwsAlg): { kty: string; crv: string } {
  return alg === 'ES256' ? { kty: 'EC', crv: 'P-256' } : { kty: 'OKP', crv: 'Ed25519' };
}
