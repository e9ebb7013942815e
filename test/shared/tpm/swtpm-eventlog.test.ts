import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EV, computePcrs, parseEventLog, replay, secureBootState } from '../../../shared/src/eventlog/index.js';
import { verifyQuote } from '../../../shared/src/tpm/index.js';
import { startSwtpm, toolsFlushed, type Swtpm } from '../../helpers/swtpm.js';

/**
 * A real TPM that measured a real boot: swtpm's PCRs are extended with the sha256 digests of a
 * recorded event log (a RHEL 8 Shielded VM with Secure Boot on), then tpm2_quote signs them. Our
 * verifier accepts the quote, the log replays to the quoted values, and Secure Boot state can be
 * read only then.
 */
const LOG = 'test/fixtures/eventlogs/go-tpm-tools/rhel8-uefi.bin';
let tpm: Swtpm;
let dir: string;

const tool = (cmd: string, args: string[]) => toolsFlushed(tpm, cmd, args);

beforeAll(async () => {
  tpm = await startSwtpm();
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-measured-'));
  const log = parseEventLog(readFileSync(LOG));
  expect(log.startupLocality).toBeNull(); // swtpm starts at locality 0, like this machine did
  const specs = log.events.filter((e) => e.type !== EV.NO_ACTION).map((e) => `${e.pcr}:sha256=${e.digests.sha256!.toString('hex')}`);
  for (let i = 0; i < specs.length; i += 8) await tpm.tools('tpm2_pcrextend', specs.slice(i, i + 8));
  await tool('tpm2_createek', ['-c', join(dir, 'ek.ctx'), '-G', 'ecc', '-u', join(dir, 'ek.pub')]);
  await tool('tpm2_createak', [
    '-C',
    join(dir, 'ek.ctx'),
    '-c',
    join(dir, 'ak.ctx'),
    '-G',
    'ecc',
    '-g',
    'sha256',
    '-s',
    'ecdsa',
    '-u',
    join(dir, 'ak.pub'),
  ]);
}, 120_000);

afterAll(async () => {
  await tpm?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('quote over PCRs extended with a real event log', () => {
  it('quote verifies, replay matches the TPM, Secure Boot is read from the verified log', async () => {
    const nonce = randomBytes(32);
    await tool('tpm2_quote', [
      '-c',
      join(dir, 'ak.ctx'),
      '-l',
      'sha256:0,1,2,3,4,5,6,7,8,9,14',
      '-q',
      nonce.toString('hex'),
      '-m',
      join(dir, 'q.msg'),
      '-s',
      join(dir, 'q.sig'),
      '-g',
      'sha256',
    ]);
    const out = await tpm.tools('tpm2_pcrread', ['sha256:0,1,2,3,4,5,6,7,8,9,14']);
    const sha256: Record<string, string> = {};
    for (const m of out.matchAll(/^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)$/gm)) sha256[m[1]!] = m[2]!.toLowerCase();
    const pcrs = { sha256 };

    verifyQuote({
      attest: await readFile(join(dir, 'q.msg')),
      signature: await readFile(join(dir, 'q.sig')),
      akPublic: await readFile(join(dir, 'ak.pub')),
      nonce,
      pcrs,
    });

    const log = parseEventLog(readFileSync(LOG));
    // Our software replay equals what the TPM computed from the same extends, PCR by PCR.
    expect(computePcrs(log).sha256).toEqual(sha256);
    // And equals the values go-tpm-tools recorded from the original machine's TPM.
    const recorded = JSON.parse(readFileSync(LOG.replace('.bin', '.pcrs.json'), 'utf8')).banks.sha256;
    expect(sha256).toEqual(recorded);
    const r = replay(log, pcrs);
    if (!r.ok) throw r.error;
    expect(r.banks.sha256!.differed).toEqual([]);
    expect(secureBootState(r.log).enabled).toBe(true);
  });
});
