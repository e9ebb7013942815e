/** What every coded error takes besides its code and message. */
export interface NodesealErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
}

/**
 * Base error for every coded failure in nodeseal.
 *
 * Each area (agent collectors, TPM, event log, report, collector API ...) keeps its own
 * errors.ts with subclasses or factory functions; every code is a stable string listed in
 * docs/errors.md (a test keeps the two in step). `details` carries the data a caller needs
 * (which PCR, which field, which TPM response code) and must never hold secrets.
 */
export class NodesealError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: NodesealErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NodesealError';
    this.code = code;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

/**
 * The base class of one area's errors, named `name`: `export class StoreError extends
 * areaError('StoreError') {}`. Its instances are NodesealErrors whose `name` is the area's, and
 * `instanceof` tells the areas apart.
 */
export function areaError(name: string) {
  return class extends NodesealError {
    constructor(code: string, message: string, options: NodesealErrorOptions = {}) {
      super(code, message, options);
      this.name = name;
    }
  };
}

/** A mistake by the person running a command (bad flag, unreadable file): printed as one line, no stack. */
export class UserError extends NodesealError {
  constructor(code: string, message: string, options: NodesealErrorOptions = {}) {
    super(code, message, options);
    this.name = 'UserError';
  }
}

export function isNodesealError(e: unknown): e is NodesealError {
  return e instanceof NodesealError;
}

/** Generic codes shared by every area. Area-specific codes live in that area's errors.ts. */
export const ERR_USAGE = 'ERR_USAGE';
export const ERR_INTERNAL = 'ERR_INTERNAL';
export const ERR_CONFIG = 'ERR_CONFIG';
export const ERR_SCHEMA = 'ERR_SCHEMA';
