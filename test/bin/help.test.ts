import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'bin/nodeseal.ts', ...args], { timeout: 30_000 });

describe('nodeseal --help', () => {
  it('lists every verb with a summary, and each verb explains itself', async () => {
    const { stdout } = await cli('--help');
    const verbs = [...stdout.matchAll(/^ {2}(\S+(?: \S+)?)\s{2,}(\S.*)$/gm)].map((m) => m[1]!);
    expect(verbs).toEqual(
      expect.arrayContaining([
        'agent',
        'collector',
        'inventory',
        'tpm quote',
        'nodes',
        'approve',
        'receipt verify',
        'inspect eventlog',
        'config check',
      ]),
    );
    for (let i = 0; i < verbs.length; i += 4) {
      await Promise.all(
        verbs.slice(i, i + 4).map(async (v) => {
          const out = await cli(...v.split(' '), '--help');
          expect(out.stdout, v).toMatch(new RegExp(`^\\S.*\\n\\nUsage: .*nodeseal ${v.replace(' ', '\\s+')}`, 's'));
        }),
      );
    }
  }, 120_000);

  it('an unknown verb is a usage error with its code', async () => {
    const err = await cli('no-such-verb').then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('ERR_USAGE');
  });

  it('collector --help gives the defaults, an example and the exit codes', async () => {
    const { stdout } = await cli('collector', '--help');
    expect(stdout).toMatch(/--listen HOST:PORT .*default 127\.0\.0\.1:8443/);
    expect(stdout).toMatch(/^Example/m);
    expect(stdout).toMatch(/^Exit: 0 .*ERR_LISTEN/m);
  });

  it('the first word of a two-word verb alone names the verbs it starts', async () => {
    const err = await cli('tpm').then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr.trim().split('\n')).toEqual([expect.stringMatching(/'nodeseal tpm pcrs', 'nodeseal tpm quote' \(ERR_USAGE\)/)]);
  });
});
