import { areaError } from '../../../shared/src/errors.js';

/** Codes raised by the hardware ports (command runner, rooted file reader). */
export const ERR_COMMAND_NOT_FOUND = 'ERR_COMMAND_NOT_FOUND';
export const ERR_COMMAND_TIMEOUT = 'ERR_COMMAND_TIMEOUT';
export const ERR_COMMAND_FAILED = 'ERR_COMMAND_FAILED';
export const ERR_COMMAND_OUTPUT_LIMIT = 'ERR_COMMAND_OUTPUT_LIMIT';
export const ERR_FILE_UNREADABLE = 'ERR_FILE_UNREADABLE';
export const ERR_FILE_TOO_LARGE = 'ERR_FILE_TOO_LARGE';
export const ERR_PATH_OUTSIDE_ROOT = 'ERR_PATH_OUTSIDE_ROOT';

export class PortError extends areaError('PortError') {}
