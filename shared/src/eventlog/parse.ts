import { algName, hashAlg } from '../tpm/alg.js';
import { Reader } from '../tpm/reader.js';
import { decodeEventData, type EventData } from './event-data.js';
import { EV, eventTypeName } from './event-types.js';
import {
  ERR_EVENTLOG_DIGEST,
  ERR_EVENTLOG_PCR_INDEX,
  ERR_EVENTLOG_SPECID,
  ERR_EVENTLOG_TOO_LARGE,
  ERR_EVENTLOG_TRUNCATED,
  EventLogError,
  truncated,
} from './errors.js';
import type { EventLogEvent, SpecId, UnverifiedEventLog } from './types.js';

export interface ParseOptions {
  /** Largest log accepted, in bytes (default 16 MiB; a real firmware log is well under 1 MiB). */
  maxBytes?: number;
  /** Most events accepted (default 100,000). */
  maxEvents?: number;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_EVENTS = 100_000;
/** Highest PCR index accepted: TPM 2.0 PC Client TPMs have 24 PCRs. */
const MAX_PCR = 23;
const MAX_ALGORITHMS = 16;
const MAX_DIGEST = 64;
const SPEC_ID_03 = 'Spec ID Event03\0';

function specError(message: string, offset: number): EventLogError {
  return new EventLogError(ERR_EVENTLOG_SPECID, `Spec ID event: ${message}`, { details: { offset } });
}

function parseSpecId(data: Buffer, offset: number): SpecId {
  const r = new Reader(data, (f, o, m) => specError(`${f}: ${m}`, offset + 32 + o));
  const signature = r.bytes(16, 'signature').toString('latin1');
  const platformClass = r.u32le('platformClass');
  const minor = r.u8('specVersionMinor');
  const major = r.u8('specVersionMajor');
  const specErrata = r.u8('specErrata');
  const uintnSize = r.u8('uintnSize');
  const n = r.u32le('numberOfAlgorithms');
  if (n === 0 || n > MAX_ALGORITHMS) throw specError(`numberOfAlgorithms ${n} (1..${MAX_ALGORITHMS})`, offset);
  const algorithms: SpecId['algorithms'] = [];
  for (let i = 0; i < n; i++) {
    const id = r.u16le('algorithmId');
    const digestSize = r.u16le('digestSize');
    const known = hashAlg(id);
    if (known && known.size !== digestSize)
      throw specError(`${known.name} declared with digest size ${digestSize}, not ${known.size}`, offset);
    if (digestSize === 0 || digestSize > MAX_DIGEST) throw specError(`algorithm ${algName(id)} digest size ${digestSize}`, offset);
    if (algorithms.some((a) => a.id === id)) throw specError(`algorithm ${algName(id)} declared twice`, offset);
    algorithms.push({ id, name: known ? known.name : algName(id), digestSize });
  }
  const vendorSize = r.u8('vendorInfoSize');
  const vendorInfo = r.bytes(vendorSize, 'vendorInfo');
  r.done('end');
  if (major !== 2) throw specError(`spec version ${major}.${minor}, expected 2.x`, offset);
  return {
    signature: signature.replace(/\0+$/, ''),
    platformClass,
    specVersion: `${major}.${minor}`,
    specErrata,
    uintnSize,
    algorithms,
    vendorInfo,
  };
}

/** An event whose data is decoded on first read (most callers only replay digests). */
class ParsedEvent implements EventLogEvent {
  readonly typeName: string;
  private cached: EventData | undefined;

  constructor(
    readonly index: number,
    readonly offset: number,
    readonly pcr: number,
    readonly type: number,
    readonly digests: Record<string, Buffer>,
    readonly data: Buffer,
  ) {
    this.typeName = eventTypeName(type);
  }

  get decoded(): EventData {
    return (this.cached ??= decodeEventData(this.type, this.data));
  }
}

function checkPcr(pcr: number, offset: number): void {
  if (pcr > MAX_PCR)
    throw new EventLogError(
      ERR_EVENTLOG_PCR_INDEX,
      `event at offset ${offset} names PCR ${pcr} (0..${MAX_PCR}): not an event log, or corrupt`,
      { details: { offset, pcr } },
    );
}

/**
 * Trailing bytes after the last record are accepted only as 0x00 or 0xff fill. Returns where
 * that fill starts (the length when the log does not end in fill), computed once so the check
 * per record is O(1) even for hostile all-zero inputs.
 */
function fillStart(buf: Uint8Array): number {
  const last = buf[buf.length - 1];
  if (last !== 0 && last !== 0xff) return buf.length;
  let i = buf.length - 1;
  while (i > 0 && buf[i - 1] === last) i--;
  return i;
}

/**
 * Parses a TCG PC Client event log (binary_bios_measurements): the SHA-1 legacy format or the
 * crypto-agile format announced by a Spec ID Event03 first event. Every length is checked
 * against what remains; failures are coded EventLogErrors. Nothing in the result is trusted:
 * pass it to `replay` with quoted PCRs.
 */
export function parseEventLog(bytes: Uint8Array, opts: ParseOptions = {}): UnverifiedEventLog {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
  if (bytes.length > maxBytes)
    throw new EventLogError(ERR_EVENTLOG_TOO_LARGE, `event log is ${bytes.length} bytes, the limit is ${maxBytes}`, {
      details: { size: bytes.length, maxBytes },
    });
  if (bytes.length === 0) throw new EventLogError(ERR_EVENTLOG_TRUNCATED, 'event log is empty', { details: { offset: 0 } });
  const r = new Reader(bytes, truncated);
  const fillFrom = fillStart(bytes);
  const events: EventLogEvent[] = [];
  let startupLocality: number | null = null;

  const push = (e: { offset: number; pcr: number; type: number; digests: Record<string, Buffer>; data: Buffer }) => {
    if (events.length >= maxEvents)
      throw new EventLogError(ERR_EVENTLOG_TOO_LARGE, `event log has more than ${maxEvents} events`, { details: { maxEvents } });
    const ev = new ParsedEvent(events.length, e.offset, e.pcr, e.type, e.digests, e.data);
    if (e.type === EV.NO_ACTION && e.pcr === 0 && startupLocality === null) {
      const d = ev.decoded;
      if (d.kind === 'startupLocality') startupLocality = d.locality;
    }
    events.push(ev);
  };

  // First record: always TCG_PCR_EVENT (SHA-1 layout).
  const readLegacy = () => {
    const offset = r.offset;
    const pcr = r.u32le('pcrIndex');
    checkPcr(pcr, offset);
    const type = r.u32le('eventType');
    const digest = r.bytes(20, 'digest');
    const size = r.u32le('eventSize');
    const data = r.bytes(size, 'event');
    return { offset, pcr, type, digest, data };
  };
  const first = readLegacy();
  let specId: SpecId | null = null;
  if (first.type === EV.NO_ACTION && first.data.subarray(0, 16).toString('latin1') === SPEC_ID_03) {
    // PC Client logs put it in PCR 0; confidential-computing logs (CCEL) use another index. It is never extended.
    specId = parseSpecId(first.data, first.offset);
    push({ offset: first.offset, pcr: first.pcr, type: first.type, digests: { sha1: first.digest }, data: first.data });
  } else {
    push({ offset: first.offset, pcr: first.pcr, type: first.type, digests: { sha1: first.digest }, data: first.data });
  }

  while (r.remaining > 0) {
    // Logs copied out of a fixed-size firmware area end in 0x00 or 0xff fill; no real record is all fill.
    if (r.offset >= fillFrom) break;
    if (specId === null) {
      const e = readLegacy();
      push({ offset: e.offset, pcr: e.pcr, type: e.type, digests: { sha1: e.digest }, data: e.data });
      continue;
    }
    const offset = r.offset;
    const pcr = r.u32le('pcrIndex');
    const type = r.u32le('eventType');
    checkPcr(pcr, offset);
    const count = r.u32le('digests.count');
    if (count === 0 || count > specId.algorithms.length) {
      throw new EventLogError(
        ERR_EVENTLOG_DIGEST,
        `event at offset ${offset} has ${count} digests, the Spec ID event declares ${specId.algorithms.length} algorithms`,
        { details: { offset, count } },
      );
    }
    const digests: Record<string, Buffer> = {};
    for (let i = 0; i < count; i++) {
      const id = r.u16le('digests.hashAlg');
      const alg = specId.algorithms.find((a) => a.id === id);
      if (!alg)
        throw new EventLogError(
          ERR_EVENTLOG_DIGEST,
          `event at offset ${offset} has a digest of ${algName(id)}, which the Spec ID event does not declare`,
          { details: { offset, alg: id } },
        );
      if (digests[alg.name])
        throw new EventLogError(ERR_EVENTLOG_DIGEST, `event at offset ${offset} has two ${alg.name} digests`, {
          details: { offset, alg: id },
        });
      digests[alg.name] = r.bytes(alg.digestSize, 'digests.digest');
    }
    const size = r.u32le('eventSize');
    const data = r.bytes(size, 'event');
    push({ offset, pcr, type, digests, data });
  }

  // A bank is replayable only when node:crypto has its hash and every extended event carries its digest.
  const declared = specId ? specId.algorithms.filter((a) => hashAlg(a.id)).map((a) => a.name) : ['sha1'];
  const banks = declared.filter((b) => events.every((e) => e.type === EV.NO_ACTION || e.digests[b] !== undefined));
  return { trust: 'unverified', format: specId ? 'crypto-agile' : 'sha1-legacy', specId, banks, events, startupLocality };
}
