import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { NodesealError } from '../../../shared/src/errors.js';
import type { Verdict } from '../../../shared/src/report/types.js';
import type { CollectorConfig } from '../config.js';
import type { CollectorEvents } from '../events.js';
import type { Logger } from '../logger.js';
import type { EvidencePorts } from '../pipeline/verify-report.js';
import { inThreadVerifier, type ReportVerifier } from '../pipeline/verify-pool.js';
import type { NodeRecord, Store } from '../store/store.js';
import { createGroupCommitter, type ReportWriter } from '../store/group-commit.js';
import { CLOSE_GOING_AWAY, ERR_WS_SHUTDOWN } from './errors.js';
import { AgentSession } from './session.js';

export const ERR_NODE_NOT_CONNECTED = 'ERR_NODE_NOT_CONNECTED';
/** How many connections of one node may be unproven at once (a hello names only the public kid). */
export const MAX_UNPROVEN_PER_NODE = 4;

/** Enrolment hook called at hello for a node with no pinned key; throw a coded error to refuse. */
export interface EnrollHook {
  admit(
    hello: {
      nodeId: string;
      kid: string;
      jwk?: Record<string, unknown>;
      enrollToken?: string;
      ekPublic?: string;
      ekCert?: string | null;
      akPublic?: string;
    },
    ctx: {
      node: NodeRecord | null;
      req: IncomingMessage;
      /** Sends a credential-activation challenge on this connection and resolves with the agent's answer. */
      ask?: (c: { challengeId: string; credentialBlob: string; secret: string }) => Promise<{ challengeId: string; credential: string }>;
    },
  ): Promise<{ enrolledVia: 'tofu' | 'token' | 'operator' /** The node as the enrolment committed it (pinned AK). */; node?: NodeRecord }>;
  /**
   * JWS key rotation announced in a verified fresh report signed by the pinned key: checks the
   * announcement, pins the new key (audited) and returns the node; throws a coded error to refuse.
   */
  rotate?(nodeId: string, pinnedKid: string, announced: { jwk: Record<string, unknown>; kid: string }): Promise<NodeRecord>;
}

export type HubConfig = Pick<
  CollectorConfig,
  | 'intervalSec'
  | 'heartbeatSec'
  | 'helloTimeoutMs'
  | 'rateLimitPerSec'
  | 'rateLimitBurst'
  | 'maxErrorsPerConnection'
  | 'maxPayloadBytes'
  | 'maxConnections'
> &
  /** Nonces expire after this (default 3 × intervalSec; at least 2 × intervalSec): an older one makes its report history. */
  Partial<Pick<CollectorConfig, 'freshnessTtlSec'>>;

export interface HubDeps {
  store: Store;
  events: CollectorEvents;
  logger: Logger;
  ports: EvidencePorts;
  /** Where reports are verified (a worker pool); default: this thread, with `ports`. */
  verifier?: ReportVerifier;
  config: HubConfig;
  /** Where verified reports are written; default: group commit over `store` (store/group-commit.ts). */
  writer?: ReportWriter;
  enroll?: EnrollHook;
  now?: () => Date;
  nonce?: () => string;
}

/** The outcome of a challenge sent on demand: the verdict, or the code its report was rejected with. */
export type ChallengeOutcome = { verdict: Verdict; seq: number } | { error: { code: string; message: string } } | null;

/**
 * Every live agent connection, by node. Serialises report processing per node (so two
 * connections claiming one node cannot interleave), drives the heartbeat, and lets the HTTP
 * side send a challenge to a connected node and await the verdict of the report answering it.
 */
export class AgentHub {
  readonly sessions = new Set<AgentSession>();
  /** Proven connections (a report verified with the pinned key), by node. */
  private readonly byNode = new Map<string, Set<AgentSession>>();
  /** Connections past hello that have not proven possession of the node's key yet, by node. */
  private readonly unproven = new Map<string, Set<AgentSession>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private heartbeat: NodeJS.Timeout | null = null;
  readonly now: () => Date;
  readonly newNonce: () => string;
  readonly verifier: ReportVerifier;
  readonly writer: ReportWriter;

  constructor(readonly deps: HubDeps) {
    this.writer = deps.writer ?? createGroupCommitter(deps.store);
    this.now = deps.now ?? (() => new Date());
    this.verifier = deps.verifier ?? inThreadVerifier(deps.ports);
    this.newNonce = deps.nonce ?? (() => randomBytes(32).toString('hex'));
    const ms = Math.round(deps.config.heartbeatSec * 1000);
    this.heartbeat = setInterval(() => {
      for (const s of this.sessions) s.heartbeatTick();
    }, ms);
    this.heartbeat.unref();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Starts serving an accepted WebSocket. */
  accept(ws: WebSocket, req: IncomingMessage): AgentSession {
    const s = new AgentSession(this, ws, req);
    this.sessions.add(s);
    return s;
  }

  /**
   * Adds a connection whose hello was accepted as an unproven one of its node: a hello for a
   * pinned node names only the (public) kid, so the connection counts for its node only once
   * `promote` is called after its first report verified with the pinned key. When the node
   * already has MAX_UNPROVEN_PER_NODE unproven connections, the oldest is returned for eviction:
   * the newest hello always gets its chance to prove the key, so connections that only know the
   * kid cannot lock the node's honest agent out (they can only be evicted by fresher ones, and
   * an honest agent proves its key within one round trip).
   */
  register(nodeId: string, s: AgentSession): AgentSession | null {
    let set = this.unproven.get(nodeId);
    if (!set) this.unproven.set(nodeId, (set = new Set()));
    let evicted: AgentSession | null = null;
    if (set.size >= MAX_UNPROVEN_PER_NODE) {
      evicted = set.values().next().value!;
      set.delete(evicted);
    }
    set.add(s);
    return evicted;
  }

  /** The connection proved possession of the node's key (a report verified with it): it now counts as connected. */
  promote(nodeId: string, s: AgentSession): void {
    removeFrom(this.unproven, nodeId, s);
    let set = this.byNode.get(nodeId);
    if (!set) this.byNode.set(nodeId, (set = new Set()));
    set.add(s);
  }

  unregister(s: AgentSession): void {
    this.sessions.delete(s);
    if (s.nodeId) {
      removeFrom(this.byNode, s.nodeId, s);
      removeFrom(this.unproven, s.nodeId, s);
    }
  }

  /** The proven connection to challenge for a node: the one that last delivered a verified report, else the newest. */
  sessionFor(nodeId: string): AgentSession | null {
    const set = this.byNode.get(nodeId);
    if (!set || set.size === 0) return null;
    let best: AgentSession | null = null;
    for (const s of set) if (!best || s.rank() > best.rank()) best = s;
    return best;
  }

  /** Whether the node has a proven connection (one that delivered a report verified with its pinned key). */
  isConnected(nodeId: string): boolean {
    return this.sessionFor(nodeId) !== null;
  }

  /** Connections that proved possession of their node's key. */
  get provenCount(): number {
    let n = 0;
    for (const set of this.byNode.values()) n += set.size;
    return n;
  }

  /** Connections whose hello was accepted but which have not yet delivered a verified report. */
  get unprovenCount(): number {
    let n = 0;
    for (const set of this.unproven.values()) n += set.size;
    return n;
  }

  connectedNodes(): string[] {
    return [...this.byNode.keys()];
  }

  /** Runs `fn` after every earlier task for this node has finished. */
  withNodeLock<T>(nodeId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(nodeId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(nodeId, tail);
    void tail.then(() => {
      if (this.locks.get(nodeId) === tail) this.locks.delete(nodeId);
    });
    return run;
  }

  /**
   * Sends a fresh challenge to a connected node. With waitMs > 0, resolves with the verdict of
   * the report that answers it (or the code it was rejected with), or null on timeout.
   * Throws ERR_NODE_NOT_CONNECTED when the node has no proven connection. Its unproven ones
   * (see `register`) are challenged only then, so an agent that has just said hello can still
   * answer; their verified answer is returned, but without one the node is not connected.
   */
  async challenge(nodeId: string, waitMs: number): Promise<ChallengeOutcome> {
    const ready = (m: Map<string, Set<AgentSession>>) => [...(m.get(nodeId) ?? [])].filter((s) => s.state === 'ready');
    let all = ready(this.byNode);
    const proven = all.length > 0;
    if (!proven) all = ready(this.unproven);
    const notConnected = () =>
      new NodesealError(
        ERR_NODE_NOT_CONNECTED,
        `node ${nodeId} is not connected${all.length > 0 ? ` (${all.length} unproven connection(s) challenged)` : ''}`,
      );
    if (all.length === 0) throw notConnected();
    // Every connection claiming the node is challenged: one that merely knows the node's (public)
    // kid cannot absorb the challenge; the first verified answer wins.
    const outcomes = all.map((s) => s.sendChallenge(false, waitMs));
    if (waitMs <= 0) {
      if (!proven) throw notConnected();
      return null;
    }
    if (!proven) {
      const o = await firstVerified(outcomes);
      if (o === null || 'error' in o) throw notConnected();
      return o;
    }
    return firstVerified(outcomes);
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const s of [...this.sessions]) s.close(CLOSE_GOING_AWAY, ERR_WS_SHUTDOWN);
  }
}

/** The first verified outcome among `outcomes`, else the first error, else null. */
function firstVerified(outcomes: Promise<ChallengeOutcome>[]): Promise<ChallengeOutcome> {
  return new Promise((resolve) => {
    let left = outcomes.length;
    let firstError: ChallengeOutcome = null;
    for (const p of outcomes) {
      void p.then((o) => {
        if (o && 'verdict' in o) return resolve(o);
        firstError ??= o;
        if (--left === 0) resolve(firstError);
      });
    }
  });
}

function removeFrom(m: Map<string, Set<AgentSession>>, nodeId: string, s: AgentSession): void {
  const set = m.get(nodeId);
  set?.delete(s);
  if (set && set.size === 0) m.delete(nodeId);
}
