import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../../shared/src/cli/verb.js';
import { UserError } from '../../../shared/src/errors.js';

function usageError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

describe('parseFlags', () => {
  const opts = { wait: { type: 'string' }, json: { type: 'boolean' } } as const;

  it('passes a negative number to a string flag so the verb can range-check it', () => {
    expect(parseFlags(['--wait', '-3'], opts).values.wait).toBe('-3');
    expect(parseFlags(['--wait', '-0.5', '--json'], opts).values).toEqual({ wait: '-0.5', json: true });
  });

  it('still refuses a flag as a missing value, with a one-line ERR_USAGE message', () => {
    const e = usageError(() => parseFlags(['--wait', '--json'], opts));
    expect(e.code).toBe('ERR_USAGE');
    expect(e.message).not.toContain('\n');
    expect(e.message).toContain('--wait');
  });

  it('refuses an unknown flag with ERR_USAGE', () => {
    const e = usageError(() => parseFlags(['--bogus'], opts));
    expect(e.code).toBe('ERR_USAGE');
    expect(e.message).not.toContain('\n');
  });

  it('does not join a negative number to a boolean flag', () => {
    const e = usageError(() => parseFlags(['--json', '-3'], opts));
    expect(e.code).toBe('ERR_USAGE');
  });
});
