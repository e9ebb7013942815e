import type { Logger } from 'pino';
import { isNodesealError } from '../../../shared/src/errors.js';
import type { AgentMessage, CollectorMessage } from '../../../shared/src/protocol/messages.js';
import { ERR_AGENT_RECONNECT } from './errors.js';
import type { Identity } from '../../../shared/src/jws/index.js';
import type { AgentEnrollment } from './options.js';

export const AGENT_VERSION = '0.1.0';

export type HelloMessage = Extract<AgentMessage, { type: 'hello' }>;

/**
 * The hello for a new connection: node id and public key; with `enroll` (the agent is not
 * enrolled yet) also the token and the TPM's EK/AK material. When the TPM cannot give the
 * material, the hello goes without it (the collector then answers with its refusal code).
 */
export async function helloMessage(
  o: { nodeId: string; identity: Pick<Identity, 'kid' | 'publicJwk'>; logger: Logger },
  enroll: AgentEnrollment | undefined,
): Promise<HelloMessage> {
  const hello: HelloMessage = {
    type: 'hello',
    nodeId: o.nodeId,
    agentVersion: AGENT_VERSION,
    kid: o.identity.kid,
    jwk: o.identity.publicJwk as Record<string, unknown>,
  };
  if (!enroll) return hello;
  try {
    return { ...hello, enrollToken: enroll.token, ...(await enroll.material()) };
  } catch (e) {
    o.logger.warn(
      { code: isNodesealError(e) ? e.code : undefined, err: (e as Error).message },
      'cannot read the TPM enrolment material; saying hello without it',
    );
    return hello;
  }
}

/**
 * The answer to the collector's enrolment challenge: TPM2_ActivateCredential with the AK and EK.
 * A TPM failure is returned as the error that ends the connection (retried with backoff).
 */
export async function activateCredential(
  enroll: AgentEnrollment,
  msg: Extract<CollectorMessage, { type: 'enroll-challenge' }>,
  logger: Logger,
): Promise<{ message: Extract<AgentMessage, { type: 'enroll-answer' }> } | { error: { code: string; message: string } }> {
  try {
    const credential = await enroll.activate(Buffer.from(msg.credentialBlob, 'hex'), Buffer.from(msg.secret, 'hex'));
    return { message: { type: 'enroll-answer', challengeId: msg.challengeId, credential: credential.toString('hex') } };
  } catch (e) {
    const code = isNodesealError(e) ? e.code : ERR_AGENT_RECONNECT;
    logger.warn({ code, err: (e as Error).message }, 'credential activation failed');
    return { error: { code, message: `credential activation failed: ${(e as Error).message}` } };
  }
}
