import { createHash } from 'node:crypto';
import type { HashName } from '../tpm/alg.js';
import { EV } from './event-types.js';
import { ERR_EVENTLOG_EVENT_DATA, ERR_EVENTLOG_UNVERIFIED, EventLogError } from './errors.js';
import type { EventLogEvent, VerifiedEventLog } from './types.js';
import { EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE } from './uefi.js';

export interface SecureBootFromLog {
  /** The measured SecureBoot variable: true (1), false (0 or empty), null when not measured. */
  enabled: boolean | null;
  /** Whether each key database was measured with content. */
  pk: boolean;
  kek: boolean;
  db: boolean;
  dbx: boolean;
  /** EV_EFI_VARIABLE_AUTHORITY events: which db entries authorised loaded images. */
  authorities: Array<{
    name: string;
    guid: string;
    dataSha256: string /** digest == H(event data); shim logs some authorities otherwise. */;
    dataBound: boolean;
  }>;
}

/** Whether the event data is what was measured: its digest equals H(data) in every verified bank. */
function dataBound(e: EventLogEvent, banks: string[]): boolean {
  return (
    banks.length > 0 &&
    banks.every(
      (b) =>
        e.digests[b] !== undefined &&
        createHash(b as HashName)
          .update(e.data)
          .digest()
          .equals(e.digests[b]!),
    )
  );
}

/**
 * Secure Boot state as measured into PCR7. Takes only a VerifiedEventLog (what `replay`
 * returns on a match); PCR7 must be among the verified PCRs (ERR_EVENTLOG_UNVERIFIED).
 */
export function secureBootState(log: VerifiedEventLog): SecureBootFromLog {
  if (log.trust !== 'verified' || !Object.values(log.verifiedPcrs).some((pcrs) => pcrs.includes(7))) {
    throw new EventLogError(ERR_EVENTLOG_UNVERIFIED, 'Secure Boot state needs PCR7 verified against a quote', {
      details: { verifiedPcrs: log.verifiedPcrs },
    });
  }
  // The replay binds digests, not data: a variable's data is trusted only when it hashes to its digest.
  const banks = Object.keys(log.verifiedPcrs).filter((b) => log.verifiedPcrs[b]!.includes(7));
  const out: SecureBootFromLog = { enabled: null, pk: false, kek: false, db: false, dbx: false, authorities: [] };
  for (const e of log.events) {
    if (e.pcr !== 7 || e.decoded.kind !== 'variable') continue;
    const v = e.decoded.variable;
    if (e.type === EV.EFI_VARIABLE_AUTHORITY) {
      out.authorities.push({ name: v.name, guid: v.guid, dataSha256: v.dataSha256, dataBound: dataBound(e, banks) });
      continue;
    }
    if (e.type !== EV.EFI_VARIABLE_DRIVER_CONFIG) continue;
    if (!dataBound(e, banks)) {
      throw new EventLogError(
        ERR_EVENTLOG_EVENT_DATA,
        `PCR7 event ${e.index} (${v.name}): the event data does not hash to its measured digest`,
        { details: { index: e.index, variable: v.name } },
      );
    }
    const present = v.dataLength > 0;
    if (v.guid === EFI_GLOBAL_VARIABLE && v.name === 'SecureBoot') out.enabled = v.dataLength > 0 && v.data[0] === 1;
    else if (v.guid === EFI_GLOBAL_VARIABLE && v.name === 'PK') out.pk = present;
    else if (v.guid === EFI_GLOBAL_VARIABLE && v.name === 'KEK') out.kek = present;
    else if (v.guid === EFI_IMAGE_SECURITY_DATABASE && v.name === 'db') out.db = present;
    else if (v.guid === EFI_IMAGE_SECURITY_DATABASE && v.name === 'dbx') out.dbx = present;
  }
  return out;
}
