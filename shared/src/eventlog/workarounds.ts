import { createHash } from 'node:crypto';
import type { HashName } from '../tpm/alg.js';
import { decodeEventData } from './event-data.js';
import { EV, eventTypeName } from './event-types.js';
import type { EventLogEvent, UnverifiedEventLog, VerifiedEventLog } from './types.js';

/**
 * Vendor workarounds: firmware that logs oddly. Each entry names its fixture and reference;
 * `replay` tries them, in order, only after the strict replay failed, and reports which one
 * made the log match. A workaround only ever ADDS synthetic events that the TPM provably saw
 * (the PCR value still has to match the quote), never drops evidence.
 */
export interface Workaround {
  id: string;
  description: string;
  /** Fixture (under test/fixtures/eventlogs) that needs it. */
  fixture: string;
  reference: string;
  /** Extra events to append, given the PCRs that differ per bank; null when it does not apply. */
  apply(log: UnverifiedEventLog | VerifiedEventLog, differing: Record<string, number[]>): EventLogEvent[] | null;
}

const EBS_INVOCATION = 'Exit Boot Services Invocation';
const EBS_SUCCESS = 'Exit Boot Services Returned with Success';

function actionEvent(
  log: { events: readonly EventLogEvent[]; banks: string[] },
  pcr: number,
  text: string,
  id: string,
  n: number,
): EventLogEvent {
  const data = Buffer.from(text, 'ascii');
  const digests: Record<string, Buffer> = {};
  for (const b of log.banks)
    digests[b] = createHash(b as HashName)
      .update(data)
      .digest();
  return {
    index: log.events.length + n,
    pcr,
    type: EV.EFI_ACTION,
    typeName: eventTypeName(EV.EFI_ACTION),
    digests,
    data,
    offset: -1,
    decoded: decodeEventData(EV.EFI_ACTION, data),
    synthetic: id,
  };
}

export const WORKAROUNDS: readonly Workaround[] = [
  {
    id: 'ebs-missing-exit-boot-services',
    description: 'Firmware extended PCR5 with the two ExitBootServices EV_EFI_ACTION events but did not log them.',
    fixture: 'go-attestation/ebs_event_missing_eventlog',
    reference: 'google/go-attestation issue #153 (eventlog_workarounds.go)',
    apply(log, differing) {
      if (!Object.values(differing).some((pcrs) => pcrs.includes(5))) return null;
      const texts = log.events.filter((e) => e.pcr === 5 && e.type === EV.EFI_ACTION).map((e) => e.data.toString('latin1'));
      if (texts.includes(EBS_INVOCATION)) return null;
      const id = 'ebs-missing-exit-boot-services';
      return [actionEvent(log, 5, EBS_INVOCATION, id, 0), actionEvent(log, 5, EBS_SUCCESS, id, 1)];
    },
  },
];
