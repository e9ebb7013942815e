import type { Logger } from 'pino';
import { isNodesealError } from '../../../shared/src/errors.js';
import type { AgentMessage } from '../../../shared/src/protocol/messages.js';
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
