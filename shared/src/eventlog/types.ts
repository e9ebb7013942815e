import type { EventData } from './event-data.js';

/** Declared in the crypto-agile log's first event (TCG_EfiSpecIDEventStruct). */
export interface SpecId {
  signature: string;
  platformClass: number;
  specVersion: string;
  specErrata: number;
  uintnSize: number;
  algorithms: Array<{ id: number; name: string; digestSize: number }>;
  vendorInfo: Buffer;
}

/** One measurement. `digests` is keyed by bank name (sha1, sha256, ... or 0xNNNN for unknown algorithms). */
export interface EventLogEvent {
  /** Position of the record in the log (0 = first record, the Spec ID event in crypto-agile logs). */
  index: number;
  pcr: number;
  type: number;
  typeName: string;
  digests: Record<string, Buffer>;
  data: Buffer;
  /** Byte offset of the record in the log. */
  offset: number;
  decoded: EventData;
  /** Set on events a vendor workaround added; names the workaround. */
  synthetic?: string;
}

interface EventLogBase {
  format: 'sha1-legacy' | 'crypto-agile';
  specId: SpecId | null;
  /** Banks the log carries digests for and node:crypto can replay. */
  banks: string[];
  events: readonly EventLogEvent[];
  /** StartupLocality (0 or 3) from its EV_NO_ACTION event, or null when absent. */
  startupLocality: number | null;
}

declare const verifiedBrand: unique symbol;

/** What `parseEventLog` returns: well-formed, but nothing in it is trusted yet. */
export interface UnverifiedEventLog extends EventLogBase {
  readonly trust: 'unverified';
}

/**
 * A log whose replay matched the quoted PCRs. Only `replay` makes one (the brand cannot be
 * written outside this module), and `events` holds only the events of PCRs that matched.
 */
export interface VerifiedEventLog extends EventLogBase {
  readonly trust: 'verified';
  readonly [verifiedBrand]: true;
  /** PCR indices per bank whose replay equalled the quote. */
  verifiedPcrs: Record<string, number[]>;
  /** The vendor workaround that made the replay match, or null for the strict path. */
  workaround: string | null;
}

export type AnyEventLog = UnverifiedEventLog | VerifiedEventLog;
