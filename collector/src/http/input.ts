import { z } from 'zod';
import { isNodesealError } from '../../../shared/src/errors.js';
import { expandHostlist, type HostlistLimits } from '../../../shared/src/hostlist.js';
import type { TrustStatus } from '../../../shared/src/report/types.js';

/**
 * Schema pieces shared by the routes' query and body schemas (collector/src/http/router.ts
 * `route`). Query values arrive as strings (a repeated key as an array, which these refuse
 * unless they say otherwise); each piece turns them into typed values or one clear message.
 */

/** A whole number from min to max written in decimal digits ("12", not "1e1" or " 12"). */
export function intString(name: string, min: number, max: number) {
  const msg = `${name} must be an integer from ${min} to ${max}`;
  return z
    .string({ error: msg })
    .regex(/^-?\d{1,16}$/, { error: msg })
    .transform(Number)
    .pipe(z.number().int().min(min, { error: msg }).max(max, { error: msg }));
}

/** A decimal number (fractions allowed) within [min, max]; `above` makes min exclusive. */
export function numberString(name: string, min: number, max: number, opts: { above?: boolean } = {}) {
  const msg = `${name} must be ${opts.above ? 'more than' : 'from'} ${min} ${opts.above ? 'and at most' : 'to'} ${max}`;
  return z
    .string({ error: msg })
    .regex(/^\d{1,9}(\.\d{1,6})?$/, { error: msg })
    .transform(Number)
    .refine((n) => (opts.above ? n > min : n >= min) && n <= max, { error: msg });
}

export const TRUST_STATUSES = ['trusted', 'untrusted', 'unknown', 'stale'] as const satisfies readonly TrustStatus[];

/** `status=` one of the four trust statuses. */
export function statusString() {
  return z.enum(TRUST_STATUSES, { error: 'status must be trusted, untrusted, unknown or stale' });
}

/** An empty value counts as absent (`?search=` from a cleared form field). */
export function emptyAsAbsent<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
}

/** A boolean flag written 1/true or 0/false. */
export function flagString(name: string) {
  return z.enum(['1', 'true', '0', 'false'], { error: `${name} must be 1, true, 0 or false` }).transform((v) => v === '1' || v === 'true');
}

/**
 * `nodes=EXPR` (repeatable; joined with commas): a Slurm hostlist expanded to names. Hostlist
 * errors keep their own codes (ERR_HOSTLIST_SYNTAX, ERR_HOSTLIST_TOO_LARGE).
 */
export function hostlistString(limits?: Partial<HostlistLimits>, opts: { required?: string } = {}) {
  const required = opts.required ?? 'nodes=LIST is required (hostlist syntax, e.g. gpu[001-016])';
  return z
    .union([z.string(), z.array(z.string())], { error: (iss) => (iss.input === undefined ? required : 'nodes must be a hostlist') })
    .transform((raw, ctx) => {
      try {
        return expandHostlist(Array.isArray(raw) ? raw.join(',') : raw, limits);
      } catch (e) {
        if (!isNodesealError(e)) throw e;
        ctx.addIssue({ code: 'custom', message: e.message, params: { code: e.code } });
        return z.NEVER;
      }
    });
}

/** A free-text field of 1..max characters that is not only white space. */
export function reasonText(name: string, max = 1000) {
  const msg = `${name} must be a string of 1 to ${max} characters`;
  return z
    .string({ error: msg })
    .max(max, { error: msg })
    .refine((s) => s.trim().length > 0, { error: msg });
}
