import type { Logger } from 'pino';
import { isNodesealError } from '../../../shared/src/errors.js';
import type { Inventory, TpmEvidence } from '../../../shared/src/report/types.js';
import { collectInventory } from '../inventory.js';
import { createHostPorts } from '../ports/index.js';
import { collectTpmEvidence } from '../tpm/index.js';

/** What the daemon needs from the host: inventory and TPM evidence bound to a nonce. */
export interface EvidenceSource {
  collect(nonce: string | null): Promise<{ inventory: Inventory; inventoryDigest: string; tpm: TpmEvidence }>;
}

export const ERR_AGENT_TPM_DISABLED = 'ERR_AGENT_TPM_DISABLED';

/**
 * The real source: inventory through the host ports (a recorded host when `root` is given),
 * TPM evidence through tpm2-tss at `tcti` (opened per round, never held between rounds).
 * tcti 'none' reports the TPM as unavailable. Neither source can make the round fail.
 */
export function hostEvidenceSource(opts: { root?: string; tcti: string; eventLogPath?: string; logger: Logger }): EvidenceSource {
  const ports = createHostPorts(opts.root !== undefined ? { root: opts.root } : {});
  return {
    async collect(nonce) {
      const inv = await collectInventory(ports);
      let tpm: TpmEvidence;
      if (opts.tcti === 'none')
        tpm = { status: 'unavailable', reason: 'TPM disabled by configuration (tcti none)', code: ERR_AGENT_TPM_DISABLED };
      else {
        try {
          tpm = await collectTpmEvidence({
            tcti: opts.tcti,
            nonce: nonce === null ? null : Buffer.from(nonce, 'hex'),
            logger: opts.logger,
            ...(opts.eventLogPath ? { eventLogPath: opts.eventLogPath } : {}),
          });
        } catch (e) {
          opts.logger.warn({ err: (e as Error).message }, 'TPM evidence could not be collected');
          tpm = { status: 'error', reason: (e as Error).message.slice(0, 500), code: isNodesealError(e) ? e.code : 'ERR_INTERNAL' };
        }
      }
      return { inventory: inv.inventory, inventoryDigest: inv.inventoryDigest, tpm };
    },
  };
}
