import { createHash, timingSafeEqual, type X509Certificate } from 'node:crypto';
import { importPublicJwk, thumbprint } from '../../../shared/src/jws/index.js';
import { isNodesealError } from '../../../shared/src/errors.js';
import { makeCredential } from '../../../shared/src/tpm/make-credential.js';
import { parsePublic, publicKeyObject, tpmName, type TpmPublic } from '../../../shared/src/tpm/public.js';
import { checkAkAttributes } from '../../../shared/src/tpm/verify-quote.js';
import { credentialKeyFromEk } from './ek-key.js';
import { parseEkCertificate, verifyEkCertificate } from './ek-cert.js';
import {
  EnrollError,
  ERR_ENROLL_ACTIVATION,
  ERR_ENROLL_CHALLENGE_EXPIRED,
  ERR_ENROLL_EK_CERT_MISSING,
  ERR_ENROLL_INPUT,
  ERR_ENROLL_KEY_ATTRIBUTES,
  ERR_ENROLL_NODE_CLAIMED,
  ERR_ENROLL_REPLAY,
  ERR_ENROLL_TOKEN_REQUIRED,
} from './errors.js';
import { checkEnrollToken, type EnrollTokenRecord } from './token-rules.js';

/**
 * Enrolment as pure functions (clock, randomness and stored rows passed in):
 *
 *   begin(request, context)  → credential challenge + the pending enrolment to keep
 *   finish(pending, answer)  → the identity to pin (EK, AK, JWS key)
 *
 * begin checks, in order: the keys parse and have the attributes of an EK and an AK; the JWS
 * key is a public ES256/EdDSA key whose thumbprint is the kid; the node id is not held by
 * another EK; an enrolment token admits this node (unless the lab TOFU setting is on); the EK
 * certificate chains to a trusted CA and certifies this EK, or an operator has recorded a
 * decision for this EK. Then MakeCredential binds a random credential to the EK and the AK's
 * Name: only the TPM that holds both can recover it. finish accepts exactly that credential,
 * once, before the challenge expires; the AK is pinned only then.
 */
export interface EnrollRequest {
  nodeId: string;
  /** TPM2B_PUBLIC of the endorsement key, hex. */
  ekPublic: string;
  /** DER EK certificate from the TPM's NV index, base64; null when the TPM has none. */
  ekCert: string | null;
  /** TPM2B_PUBLIC of the attestation key, hex. */
  akPublic: string;
  /** The agent's JWS public key and its RFC 7638 thumbprint. */
  jwk: Record<string, unknown>;
  kid: string;
  /** The enrolment token as presented; the context carries the stored row found by its hash. */
  enrollToken: string | null;
}

/** A node's pinned TPM-rooted identity (node_identities). */
export interface NodeIdentity {
  nodeId: string;
  /** TPM Name of the EK (hex): the node's hardware identity. */
  ekName: string;
  ekPublic: string;
  ekCertIssuer: string | null;
  akPublic: string;
  akName: string;
  kid: string;
  jwk: Record<string, unknown>;
  enrolledAt: string;
  enrolledVia: 'token' | 'operator' | 'tofu';
  enrolledBy: string;
  revokedAt: string | null;
}

/** An operator's recorded decision to enrol a node whose TPM has no EK certificate. */
export interface EkDecision {
  nodeId: string;
  ekName: string;
  actor: string;
  reason: string;
  at: string;
  usedAt: string | null;
}

export interface EnrollPolicy {
  /** Trusted EK CAs (from --ek-ca-dir). */
  anchors: readonly X509Certificate[];
  /** Lab setting (--allow-tofu): no token needed, no EK certificate needed. */
  allowTofu: boolean;
  /** How long the agent has to answer the credential challenge (default 60 s). */
  challengeTtlMs: number;
}

export interface BeginContext {
  now: Date;
  /** The node id's current identity, if any. */
  identity: NodeIdentity | null;
  /** The stored enrolment token row found by the presented token's hash (null: none found). */
  tokenRow: EnrollTokenRecord | null;
  /** The operator's decision for this node and EK, if one was recorded and not yet used. */
  ekDecision: EkDecision | null;
  /** 32 random octets: the credential; and a random challenge id. */
  credential: Buffer;
  challengeId: string;
}

export interface PendingEnrolment {
  challengeId: string;
  nodeId: string;
  identity: Omit<NodeIdentity, 'enrolledAt' | 'enrolledBy' | 'revokedAt'>;
  /** Token row hash to consume on success; null under TOFU or an operator decision. */
  tokenHash: string | null;
  tokenId: string | null;
  /** EK decision to mark used on success. */
  decision: EkDecision | null;
  /** SHA-256 of the credential: the expected answer is never kept in the clear. */
  credentialHash: string;
  expiresAt: string;
}

export interface EnrollChallenge {
  challengeId: string;
  /** TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, hex: the inputs of TPM2_ActivateCredential. */
  credentialBlob: string;
  secret: string;
}

const hexRe = /^(?:[0-9a-f]{2}){1,4096}$/;

function parseKey(hex: string, what: string): TpmPublic {
  if (typeof hex !== 'string' || !hexRe.test(hex))
    throw new EnrollError(ERR_ENROLL_INPUT, `${what} must be lowercase hex of a TPM2B_PUBLIC`);
  try {
    return parsePublic(Buffer.from(hex, 'hex'));
  } catch (e) {
    throw new EnrollError(ERR_ENROLL_INPUT, `${what} does not parse: ${(e as Error).message}`, { cause: e });
  }
}

/** Parse and check the request's keys; pure and cheap, so it runs before any state is looked at. */
export async function parseEnrollRequest(req: EnrollRequest): Promise<{ ek: TpmPublic; ak: TpmPublic; ekName: string; akName: string }> {
  if (typeof req.nodeId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(req.nodeId))
    throw new EnrollError(ERR_ENROLL_INPUT, 'node id is not a valid host name');
  const ek = parseKey(req.ekPublic, 'ekPublic');
  const ak = parseKey(req.akPublic, 'akPublic');
  try {
    checkAkAttributes(ak);
  } catch (e) {
    throw new EnrollError(ERR_ENROLL_KEY_ATTRIBUTES, isNodesealError(e) ? e.message : 'AK attributes', { cause: e });
  }
  credentialKeyFromEk(ek);
  try {
    importPublicJwk(req.jwk);
  } catch (e) {
    throw new EnrollError(ERR_ENROLL_INPUT, `jwk: ${(e as Error).message}`, { cause: e });
  }
  const kid = await thumbprint(req.jwk as Parameters<typeof thumbprint>[0]);
  if (kid !== req.kid) throw new EnrollError(ERR_ENROLL_INPUT, 'kid is not the RFC 7638 thumbprint of jwk');
  return { ek, ak, ekName: tpmName(ek).toString('hex'), akName: tpmName(ak).toString('hex') };
}

export async function beginEnrolment(
  req: EnrollRequest,
  policy: EnrollPolicy,
  ctx: BeginContext,
): Promise<{ challenge: EnrollChallenge; pending: PendingEnrolment }> {
  const { ek, ak, ekName, akName } = await parseEnrollRequest(req);

  if (ctx.identity && ctx.identity.revokedAt === null && ctx.identity.ekName !== ekName) {
    throw new EnrollError(ERR_ENROLL_NODE_CLAIMED, `node ${req.nodeId} is enrolled with another TPM; an operator must revoke it first`, {
      details: { nodeId: req.nodeId },
    });
  }

  let via: NodeIdentity['enrolledVia'];
  if (req.enrollToken !== null) {
    checkEnrollToken(ctx.tokenRow, req.nodeId, ctx.now);
    via = 'token';
  } else if (policy.allowTofu) via = 'tofu';
  else throw new EnrollError(ERR_ENROLL_TOKEN_REQUIRED, 'this collector enrols nodes only with an enrolment token');

  let ekCertIssuer: string | null = null;
  let decision: EkDecision | null = null;
  if (req.ekCert !== null) {
    if (typeof req.ekCert !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(req.ekCert) || req.ekCert.length > 22_000) {
      throw new EnrollError(ERR_ENROLL_INPUT, 'ekCert must be base64 DER');
    }
    const cert = parseEkCertificate(Buffer.from(req.ekCert, 'base64'));
    const result = verifyEkCertificate(cert, policy.anchors, publicKeyObject(ek), ctx.now);
    ekCertIssuer = result.chain[1]?.subject ?? cert.issuer;
  } else if (ctx.ekDecision && ctx.ekDecision.nodeId === req.nodeId && ctx.ekDecision.ekName === ekName && ctx.ekDecision.usedAt === null) {
    decision = ctx.ekDecision;
    via = 'operator';
  } else if (!policy.allowTofu) {
    throw new EnrollError(
      ERR_ENROLL_EK_CERT_MISSING,
      `the TPM of ${req.nodeId} has no EK certificate: an operator must decide for EK ${ekName} (POST /v1/nodes/${req.nodeId}/ek-decision)`,
      {
        details: { nodeId: req.nodeId, ekName },
      },
    );
  }

  if (ctx.credential.length !== 32) throw new EnrollError(ERR_ENROLL_INPUT, 'credential must be 32 octets');
  const { credentialBlob, secret } = makeCredential({ ek: credentialKeyFromEk(ek), objectName: tpmName(ak), credential: ctx.credential });
  const pending: PendingEnrolment = {
    challengeId: ctx.challengeId,
    nodeId: req.nodeId,
    identity: {
      nodeId: req.nodeId,
      ekName,
      ekPublic: req.ekPublic,
      ekCertIssuer,
      akPublic: req.akPublic,
      akName,
      kid: req.kid,
      jwk: req.jwk,
      enrolledVia: via,
    },
    tokenHash: via === 'token' ? ctx.tokenRow!.tokenHash : null,
    tokenId: via === 'token' ? ctx.tokenRow!.tokenId : null,
    decision,
    credentialHash: createHash('sha256').update(ctx.credential).digest('hex'),
    expiresAt: new Date(ctx.now.getTime() + policy.challengeTtlMs).toISOString(),
  };
  return {
    challenge: { challengeId: ctx.challengeId, credentialBlob: credentialBlob.toString('hex'), secret: secret.toString('hex') },
    pending,
  };
}

export interface EnrollAnswer {
  challengeId: string;
  /** The credential TPM2_ActivateCredential returned, hex. */
  credential: string;
}

/**
 * Checks the agent's answer against the pending enrolment (undefined when the challenge is
 * unknown, belongs to another connection, or was already answered: a replay). The caller must
 * discard the pending enrolment whatever the outcome: one answer per challenge.
 */
export function finishEnrolment(pending: PendingEnrolment | undefined, answer: EnrollAnswer, now: Date): NodeIdentity {
  if (!pending || pending.challengeId !== answer.challengeId)
    throw new EnrollError(ERR_ENROLL_REPLAY, 'no open enrolment challenge with this id on this connection');
  if (Date.parse(pending.expiresAt) <= now.getTime())
    throw new EnrollError(ERR_ENROLL_CHALLENGE_EXPIRED, 'the enrolment challenge expired');
  if (typeof answer.credential !== 'string' || !/^[0-9a-f]{64}$/.test(answer.credential))
    throw new EnrollError(ERR_ENROLL_ACTIVATION, 'the activation answer is not the credential');
  const got = createHash('sha256').update(Buffer.from(answer.credential, 'hex')).digest();
  if (!timingSafeEqual(got, Buffer.from(pending.credentialHash, 'hex'))) {
    throw new EnrollError(ERR_ENROLL_ACTIVATION, 'the activation answer is not the credential: the AK and the EK are not in one TPM');
  }
  const by =
    pending.identity.enrolledVia === 'token'
      ? `enroll-token:${pending.tokenId}`
      : pending.identity.enrolledVia === 'operator'
        ? pending.decision!.actor
        : 'tofu';
  return { ...pending.identity, enrolledAt: now.toISOString(), enrolledBy: by, revokedAt: null };
}
