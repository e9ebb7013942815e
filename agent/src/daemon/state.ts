import type { Disposition } from '../../../shared/src/protocol/dispositions.js';
import { fullJitterDelay, growingDelay } from './backoff.js';

/** A failure carried by the state it led to. */
export interface StateError {
  code: string;
  message: string;
}

/**
 * The daemon's states. `url` is the collector the state is about (for backoff and refused: the
 * one the next attempt goes to). `attempt` counts connection attempts since the last report the
 * collector verified or acknowledged: it grows across opens, refusals and moves, and only an
 * accepted report resets it.
 */
export type DaemonState =
  | { name: 'connecting'; url: string; attempt: number }
  /** Hello carried the enrolment token and TPM material; waiting for the collector to admit us. */
  | { name: 'enrolling'; url: string }
  | { name: 'attesting'; url: string }
  /** A report announcing the next key (seq) awaits its answer; new reports wait for it. */
  | { name: 'rotating'; url: string; nextKid: string; seq: number }
  | { name: 'backoff'; url: string; attempt: number; delayMs: number; error: StateError }
  /** The collector refused this node's identity: long, growing backoff until the operator acts. */
  | { name: 'refused'; url: string; code: string; attempt: number; delayMs: number; error: StateError }
  | { name: 'stopped' };

export type DaemonEvent =
  /** The WebSocket opened; `enrol` = hello carries the enrolment material; `rotation` = an announcement awaits its answer. */
  | { type: 'open'; enrol: boolean; rotation: { nextKid: string; seq: number } | null }
  /** The collector admitted the node (its first challenge after hello). */
  | { type: 'admitted'; rotation: { nextKid: string; seq: number } | null }
  | { type: 'announced'; nextKid: string; seq: number }
  /** The announcement was answered (accepted or refused). */
  | { type: 'rotation-settled' }
  /** A report was verified or acknowledged: the attempt counter starts again. */
  | { type: 'accepted' }
  /** The connection ended; `disposition` says where the next attempt goes and how long to wait. */
  | { type: 'closed'; error: StateError; disposition: Disposition }
  /** The backoff or refused wait is over. */
  | { type: 'retry' }
  | { type: 'stop' };

export interface Policy {
  /** Collector base URLs, in order of preference (at least one). */
  urls: readonly string[];
  /** Backoff for transient failures (full jitter). */
  backoff: { baseMs: number; capMs: number };
  /** Backoff after a refusal (growing, at least half the step: never a tight loop). */
  refused: { baseMs: number; capMs: number };
}

/** The state plus what persists across states: failures since the last accepted report, the current URL's index. */
export interface Machine {
  state: DaemonState;
  failures: number;
  index: number;
}

export function initialMachine(urls: readonly string[]): Machine {
  return { state: { name: 'connecting', url: urls[0]!, attempt: 1 }, failures: 0, index: 0 };
}

/**
 * The transition function: pure (the random source is injected). Events that do not apply to the
 * current state leave it as it is; `stopped` is final.
 */
export function transition(m: Machine, e: DaemonEvent, p: Policy, random: () => number): Machine {
  const s = m.state;
  if (s.name === 'stopped') return m;
  const url = p.urls[m.index % p.urls.length]!;
  switch (e.type) {
    case 'stop':
      return { ...m, state: { name: 'stopped' } };
    case 'retry':
      if (s.name !== 'backoff' && s.name !== 'refused') return m;
      return { ...m, state: { name: 'connecting', url, attempt: m.failures + 1 } };
    case 'open':
      if (s.name !== 'connecting') return m;
      if (e.enrol) return { ...m, state: { name: 'enrolling', url } };
      return { ...m, state: e.rotation ? { name: 'rotating', url, ...e.rotation } : { name: 'attesting', url } };
    case 'admitted':
      if (s.name !== 'enrolling') return m;
      return { ...m, state: e.rotation ? { name: 'rotating', url, ...e.rotation } : { name: 'attesting', url } };
    case 'announced':
      if (s.name !== 'attesting') return m;
      return { ...m, state: { name: 'rotating', url, nextKid: e.nextKid, seq: e.seq } };
    case 'rotation-settled':
      if (s.name !== 'rotating') return m;
      return { ...m, state: { name: 'attesting', url } };
    case 'accepted':
      return { ...m, failures: 0 };
    case 'closed': {
      if (s.name === 'backoff' || s.name === 'refused') return m;
      const failures = m.failures + 1;
      if (e.disposition === 'refused') {
        // A refusal is about this node, not this collector (they share one database): stay.
        const delayMs = growingDelay(failures, p.refused, random);
        return { ...m, failures, state: { name: 'refused', url, code: e.error.code, attempt: failures, delayMs, error: e.error } };
      }
      const index = e.disposition === 'move' ? (m.index + 1) % p.urls.length : m.index;
      const delayMs = fullJitterDelay(failures, p.backoff, random);
      return { failures, index, state: { name: 'backoff', url: p.urls[index]!, attempt: failures, delayMs, error: e.error } };
    }
  }
}

/** Whether reports may be sent in this state (the announcement itself is sent while rotating). */
export function canSend(s: DaemonState): boolean {
  return s.name === 'attesting' || s.name === 'rotating';
}

/** Whether the socket is open in this state. */
export function isConnected(s: DaemonState): boolean {
  return s.name === 'enrolling' || s.name === 'attesting' || s.name === 'rotating';
}
