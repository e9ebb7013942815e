import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseEventLog } from '../../../shared/src/eventlog/index.js';
import { logFixtures, REJECTED } from './fixtures.js';

const execFileP = promisify(execFile);

/**
 * tpm2_eventlog (tpm2-tools) as an independent oracle: on every fixture it can read, the event
 * count, the PCR index and the type name of every event agree with ours.
 */
async function oracle(path: string): Promise<{ pcrs: number[]; types: string[] } | null> {
  try {
    const { stdout } = await execFileP('tpm2_eventlog', [path], { maxBuffer: 32 * 1024 * 1024 });
    return {
      pcrs: [...stdout.matchAll(/^ {2}PCRIndex: (\d+)$/gm)].map((m) => Number(m[1])),
      types: [...stdout.matchAll(/^ {2}EventType: (\S+)$/gm)].map((m) => m[1]!),
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error('tpm2_eventlog is not installed (scripts/test-deps.sh installs tpm2-tools)');
    return null; // the oracle cannot read this log (non-zero exit)
  }
}

describe('agreement with tpm2_eventlog', () => {
  const logs = logFixtures();
  let compared = 0;

  for (const f of logs) {
    it(f.name, async () => {
      const o = await oracle(f.path);
      if (o === null) {
        // Logs tpm2_eventlog rejects: the CCEL log (not TPM) and the bogus file. We must still not crash.
        try {
          parseEventLog(f.bytes);
        } catch (e) {
          expect((e as { code?: string }).code).toMatch(/^ERR_EVENTLOG_/);
        }
        return;
      }
      if (REJECTED[f.name]) {
        // tpm2_eventlog reads the Spec ID struct past the event's declared size; we refuse the lying size.
        expect(() => parseEventLog(f.bytes)).toThrow(expect.objectContaining({ code: REJECTED[f.name] }));
        return;
      }
      const log = parseEventLog(f.bytes);
      expect(log.events.length).toBe(o.types.length);
      expect(log.events.map((e) => e.typeName)).toEqual(o.types);
      expect(log.events.map((e) => e.pcr)).toEqual(o.pcrs);
      compared++;
    });
  }

  it('compared a meaningful number of logs', () => {
    expect(compared).toBeGreaterThanOrEqual(20);
  });
});
