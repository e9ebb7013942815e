import type { IncomingMessage } from 'node:http';
import type { PinnedKey } from '../pipeline/verify-report.js';
import { OnDemandChallenges } from './challenges.js';
import type { Clock } from './clock.js';
import { NonceLedger } from './nonces.js';
import type { Registered } from './registry.js';
import type { AgentLink } from './types.js';

/** How long an unanswered on-demand challenge holds back the next one (an agent answers at once). */
export const ON_DEMAND_ANSWER_MS = 10_000;

/**
 * What the acceptance service knows of one agent connection: its node and pinned key once the
 * hello is accepted, whether it proved the key (a verified report), its nonces and its on-demand
 * challenges. awaiting-hello → ready → closed.
 */
export class AgentConnection implements Registered {
  state: 'awaiting-hello' | 'ready' | 'closed' = 'awaiting-hello';
  nodeId: string | null = null;
  /** Whether this connection delivered a report verified with the node's pinned key. */
  proven = false;
  pinned: PinnedKey | null = null;
  lastVerifiedAt = 0;
  readonly nonces = new NonceLedger();
  readonly demand: OnDemandChallenges;
  readonly openedAt: number;
  /** Cancels the unproven-connection timeout. */
  cancelProof: (() => void) | null = null;

  constructor(
    readonly link: AgentLink,
    readonly req: IncomingMessage | null,
    clock: Clock,
    opts: { spacingMs: number; issue: (c: AgentConnection) => string },
  ) {
    this.openedAt = clock.now();
    // Half the connection's message budget for answers to on-demand challenges; one outstanding at a time.
    this.demand = new OnDemandChallenges({
      issue: () => opts.issue(this),
      spacingMs: opts.spacingMs,
      answerMs: ON_DEMAND_ANSWER_MS,
      clock,
    });
  }

  /** Verified recently beats merely connected; then the newer. */
  rank(): number {
    return this.lastVerifiedAt * 2 + (this.state === 'ready' ? 1 : 0) + this.openedAt / 1e13;
  }
}
