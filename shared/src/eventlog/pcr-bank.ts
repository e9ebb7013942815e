import { hash } from 'node:crypto';
import { hashAlg, hashAlgId, type HashName } from '../tpm/alg.js';
import { EV } from './event-types.js';
import type { EventLogEvent } from './types.js';

/** Initial value of a PCR after TPM2_Startup: PCR0 carries the startup locality, 17-22 are all ones (DRTM). */
export function initialPcr(pcr: number, size: number, startupLocality: number | null): Buffer {
  const v = Buffer.alloc(size, pcr >= 17 && pcr <= 22 ? 0xff : 0);
  if (pcr === 0 && startupLocality !== null) v[size - 1] = startupLocality;
  return v;
}

/** Whether an event is extended into its PCR (EV_NO_ACTION never is). */
export function isExtended(e: EventLogEvent): boolean {
  return e.type !== EV.NO_ACTION;
}

/**
 * Replays events into PCR values for one bank: PCR = H(PCR || digest) per event in log order.
 * Only PCRs that at least one event extends appear in the result (lowercase hex).
 */
export function replayBank(bank: HashName, events: readonly EventLogEvent[], startupLocality: number | null): Record<string, string> {
  const size = hashAlg(hashAlgId(bank))!.size;
  const pcrs = new Map<number, Buffer>();
  // One scratch buffer PCR || digest and the one-shot hash: replay is hashing-bound.
  const scratch = Buffer.alloc(2 * size);
  for (const e of events) {
    if (!isExtended(e)) continue;
    const d = e.digests[bank];
    if (!d || d.length !== size) continue;
    const cur = pcrs.get(e.pcr) ?? initialPcr(e.pcr, size, startupLocality);
    cur.copy(scratch, 0);
    d.copy(scratch, size);
    pcrs.set(e.pcr, hash(bank, scratch, 'buffer'));
  }
  const out: Record<string, string> = {};
  for (const [k, v] of [...pcrs].sort((a, b) => a[0] - b[0])) out[String(k)] = v.toString('hex');
  return out;
}
