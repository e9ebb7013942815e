import { areaError } from '../errors.js';

/** Coded errors for event-log parsing, replay and the reads that need a replayed log. */
export const ERR_EVENTLOG_TRUNCATED = 'ERR_EVENTLOG_TRUNCATED';
export const ERR_EVENTLOG_TOO_LARGE = 'ERR_EVENTLOG_TOO_LARGE';
export const ERR_EVENTLOG_SPECID = 'ERR_EVENTLOG_SPECID';
export const ERR_EVENTLOG_DIGEST = 'ERR_EVENTLOG_DIGEST';
export const ERR_EVENTLOG_PCR_INDEX = 'ERR_EVENTLOG_PCR_INDEX';
export const ERR_EVENTLOG_REPLAY = 'ERR_EVENTLOG_REPLAY';
export const ERR_EVENTLOG_NO_COMMON_BANK = 'ERR_EVENTLOG_NO_COMMON_BANK';
export const ERR_EVENTLOG_UNVERIFIED = 'ERR_EVENTLOG_UNVERIFIED';
export const ERR_EVENTLOG_EVENT_DATA = 'ERR_EVENTLOG_EVENT_DATA';

export class EventLogError extends areaError('EventLogError') {}

/** A read past the end of the log (or of one event's data): the log is truncated or a length lies. */
export function truncated(field: string, offset: number, message: string): EventLogError {
  return new EventLogError(ERR_EVENTLOG_TRUNCATED, `event log ${field} at offset ${offset}: ${message}`, { details: { field, offset } });
}
