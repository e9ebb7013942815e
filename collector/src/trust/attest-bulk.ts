import type { HostlistLimits } from '../../../shared/src/hostlist.js';
import { z } from 'zod';
import { hostlistString, numberString } from '../http/input.js';
import { type Route, route } from '../http/router.js';
import type { ChallengeOutcome } from '../accept/index.js';
import type { TrustCache, TrustView } from './cache.js';
import { ERR_TRUST_QUERY } from './errors.js';

/**
 * POST /v1/trust/attest?nodes=EXPR&wait=SEC — fresh evidence for every node of a job at once.
 * Uses the agent hub's on-demand challenge (the same one POST /v1/nodes/:id/attest uses), all
 * nodes in parallel, and answers with each node's trust once its answer arrived:
 *   {nodes: [{...TrustView, fresh: true} | {...TrustView, fresh: false, error: CODE}], counts, allFresh}
 * `fresh: false` with ERR_NODE_NOT_CONNECTED, ERR_ATTEST_TIMEOUT or the report's rejection
 * code: that node gave no fresh evidence now, and a scheduler should not start on it.
 */
export interface Challenger {
  challenge(nodeId: string, waitMs: number): Promise<ChallengeOutcome>;
}

/** The nodes API's code for a challenge that got no answer in time. */
const TIMEOUT_CODE = 'ERR_ATTEST_TIMEOUT';

export function bulkAttestRoutes(deps: {
  challenger: Challenger;
  cache: TrustCache;
  maxWaitSec: number;
  maxNodes?: number;
  hostlistLimits?: Partial<HostlistLimits>;
}): Route[] {
  const maxNodes = deps.maxNodes ?? 1024;
  return [
    route({
      method: 'POST',
      path: '/v1/trust/attest',
      role: 'scheduler',
      query: z.strictObject({
        nodes: hostlistString({ maxHosts: maxNodes, ...deps.hostlistLimits }).refine((n) => n.length > 0, {
          error: 'nodes=LIST is required',
        }),
        wait: numberString('wait (seconds)', 0, deps.maxWaitSec, { above: true }).default(10),
      }),
      codes: { query: ERR_TRUST_QUERY },
      handler: async ({ query }) => {
        const names = query.nodes;
        const waitSec = query.wait;
        const waitMs = Math.round(waitSec * 1000);
        const nodes = await Promise.all(
          names.map(async (nodeId): Promise<TrustView & { fresh: boolean; error?: string }> => {
            let error: string | undefined;
            let outcome: ChallengeOutcome = null;
            try {
              outcome = await deps.challenger.challenge(nodeId, waitMs);
              if (outcome === null) error = TIMEOUT_CODE;
              else if ('error' in outcome) error = outcome.error.code;
            } catch (e) {
              error = (e as { code?: string }).code ?? 'ERR_INTERNAL';
            }
            const view = deps.cache.getOrUnknown(nodeId);
            if (error || !outcome || !('verdict' in outcome)) return { ...view, fresh: false, error: error ?? TIMEOUT_CODE };
            // The verdict of the answering report is authoritative even if the bus has not reached the cache yet.
            return { ...view, status: outcome.verdict.status, reasons: outcome.verdict.reasons, fresh: true };
          }),
        );
        const counts = { trusted: 0, untrusted: 0, unknown: 0, stale: 0 };
        for (const n of nodes) counts[n.status]++;
        return { nodes, counts, allFresh: nodes.every((n) => n.fresh), allTrusted: nodes.every((n) => n.fresh && n.status === 'trusted') };
      },
    }),
  ];
}
