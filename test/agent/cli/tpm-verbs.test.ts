import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../shared/src/cli/verb.js';
import pcrsVerb from '../../../agent/src/cli/tpm-pcrs.js';
import quoteVerb from '../../../agent/src/cli/tpm-quote.js';
import { ERR_TPM_UNAVAILABLE } from '../../../agent/src/index.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';
import { parsePcrread } from '../tpm/tools.js';

let tpm: Swtpm;
let dir: string;

beforeAll(async () => {
  tpm = await startSwtpm();
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-tpm-cli-'));
}, 30_000);

afterAll(async () => {
  await tpm?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function io(env: NodeJS.ProcessEnv = {}): CliIo & { out: () => string } {
  let out = '';
  return { stdout: (s) => (out += s), stderr: () => undefined, env, out: () => out };
}

describe('nodeseal tpm pcrs / tpm quote', () => {
  it('tpm pcrs --json prints every bank, equal to tpm2_pcrread; the TCTI may come from the environment', async () => {
    const o = io({ NODESEAL_TPM_TCTI: tpm.tcti });
    expect(await pcrsVerb.run(['--json'], o)).toBe(0);
    const { pcrs } = JSON.parse(o.out()) as { pcrs: Record<string, Record<string, string>> };
    // A bare swtpm has sha1, sha256, sha384 and sha512 active: every bank is read.
    expect(Object.keys(pcrs).sort()).toEqual(['sha1', 'sha256', 'sha384', 'sha512']);
    expect(pcrs).toEqual(parsePcrread(await tpm.tools('tpm2_pcrread', [])));
    const text = io();
    expect(await pcrsVerb.run(['--tcti', tpm.tcti], text)).toBe(0);
    expect(text.out()).toMatch(/^sha1:\n {3}0: [0-9a-f]{40}\n(.*\n)*sha256:\n {3}0: [0-9a-f]{64}\n/);
  });

  it('tpm quote --json prints what tpm2_checkquote verifies', async () => {
    const o = io();
    expect(await quoteVerb.run(['--nonce', '00112233445566778899', '--pcrs', '0,3,7', '--tcti', tpm.tcti, '--json'], o)).toBe(0);
    const q = JSON.parse(o.out()) as Record<string, unknown>;
    expect(Object.keys(q).sort()).toEqual(['akPublic', 'akPublicPem', 'attest', 'nonce', 'pcrs', 'signature']);
    expect(Object.keys((q.pcrs as Record<string, object>).sha256!)).toEqual(['0', '3', '7']);
    await writeFile(join(dir, 'ak.pem'), q.akPublicPem as string);
    await writeFile(join(dir, 'attest.bin'), Buffer.from(q.attest as string, 'hex'));
    await writeFile(join(dir, 'sig.bin'), Buffer.from(q.signature as string, 'hex'));
    await writeFile(join(dir, 'ak.tss'), Buffer.from(q.akPublic as string, 'hex'));
    await tpm.tools('tpm2_pcrread', ['-F', 'serialized', '-o', join(dir, 'pcrs.bin'), 'sha256:0,3,7']);
    for (const key of ['ak.pem', 'ak.tss']) {
      await expect(
        tpm.tools('tpm2_checkquote', [
          '-u',
          join(dir, key),
          '-m',
          join(dir, 'attest.bin'),
          '-s',
          join(dir, 'sig.bin'),
          '-q',
          '00112233445566778899',
          '-f',
          join(dir, 'pcrs.bin'),
          '-g',
          'sha256',
        ]),
      ).resolves.toContain('sig:');
    }
  });

  it('tpm quote: --json is optional (the usage says so); without it the same quote is printed as text', async () => {
    expect(quoteVerb.usage.split('\n')[0]).toMatch(/ \[--json\]$/);
    expect(quoteVerb.usage).toMatch(/--json\s+optional/);
    const o = io();
    expect(await quoteVerb.run(['--nonce', 'aabb', '--pcrs', '7', '--tcti', tpm.tcti], o)).toBe(0);
    expect(o.out()).toMatch(
      /^nonce {6}aabb\nattest {5}[0-9a-f]+\nsignature {2}[0-9a-f]+\nakPublic {3}[0-9a-f]+\nsha256:7 {2}[0-9a-f]{64}\n-----BEGIN PUBLIC KEY-----\n/,
    );
  });

  it.each([
    [['--pcrs', '0'], /--nonce HEX is required/],
    [['--nonce', 'xyz'], /--nonce must be/],
    [['--nonce', 'aa'.repeat(65)], /--nonce must be/],
    [['--nonce', 'aa', '--pcrs', '0,24'], /--pcrs/],
    [['--nonce', 'aa', '--pcrs', '1,1'], /twice/],
    [['--nonce', 'aa', '--ak-handle', '0x01c00002'], /--ak-handle/],
    [['--nonce', 'aa', '--ak-alg', 'dsa'], /--ak-alg/],
  ])('tpm quote %j is a usage error', async (argv, message) => {
    await expect(quoteVerb.run(argv, io())).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringMatching(message) });
  });

  it('without a TPM the verbs fail with ERR_TPM_UNAVAILABLE', async () => {
    await expect(pcrsVerb.run(['--tcti', 'device:/dev/nodeseal-no-such-tpm'], io())).rejects.toMatchObject({ code: ERR_TPM_UNAVAILABLE });
  });
});
