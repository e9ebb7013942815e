import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import inspectEventlog from '../../../collector/src/cli/inspect-eventlog.js';
import inspectQuote from '../../../collector/src/cli/inspect-quote.js';
import type { CliIo } from '../../../shared/src/cli/verb.js';
import { simulatedBootLog } from '../../../shared/src/eventlog/index.js';
import { softwareQuote } from '../../../shared/src/tpm/index.js';

function io(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (s) => out.push(s), stderr: (s) => err.push(s), env: {} };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-inspect-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('nodeseal inspect eventlog', () => {
  it('--json prints events and the replayed PCRs per bank, matching the recorded values', async () => {
    const o = io();
    expect(await inspectEventlog.run(['test/fixtures/eventlogs/go-tpm-tools/glinux-alex.bin', '--json'], o)).toBe(0);
    const j = JSON.parse(o.out.join(''));
    expect(j.events).toHaveLength(29);
    const recorded = JSON.parse(
      (await import('node:fs')).readFileSync('test/fixtures/eventlogs/go-tpm-tools/glinux-alex.pcrs.json', 'utf8'),
    );
    expect(j.pcrs.sha256['0']).toBe(recorded.banks.sha256['0']);
    expect(j.pcrs.sha1['7']).toBe(recorded.banks.sha1['7']);
  });
  it('text output names event types', async () => {
    const o = io();
    await inspectEventlog.run(['test/fixtures/eventlogs/go-tpm-tools/rhel8-uefi.bin'], o);
    expect(o.out.join('')).toContain('EV_EFI_VARIABLE_DRIVER_CONFIG');
    expect(o.out.join('')).toMatch(/SecureBoot \{8be4df61/);
  });
  it('a missing file is a user error', async () => {
    await expect(inspectEventlog.run([join(dir, 'nope')], io())).rejects.toMatchObject({ name: 'UserError', code: 'ERR_USAGE' });
  });
  it('a non-log is rejected with its code', async () => {
    await expect(inspectEventlog.run(['test/fixtures/eventlogs/keylime/binary_bios_measurements-bogus'], io())).rejects.toMatchObject({
      code: 'ERR_EVENTLOG_PCR_INDEX',
    });
  });
});

describe('nodeseal inspect quote', () => {
  const built = simulatedBootLog(50);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const nonce = randomBytes(32);
  const q = softwareQuote({ privateKey, nonce, pcrs: built.pcrs, selection: [{ bank: 'sha256', pcrs: [0, 4, 7] }] });
  const file = () => join(dir, 'quote.json');
  const hex = {
    nonce: nonce.toString('hex'),
    attest: q.attest.toString('hex'),
    signature: q.signature.toString('hex'),
    akPublic: q.akPublic.toString('hex'),
    pcrs: { sha256: built.pcrs.sha256! },
  };

  it('verifies a saved quote and replays the event log against it', async () => {
    await writeFile(file(), JSON.stringify(hex));
    await writeFile(join(dir, 'log.bin'), built.bytes);
    const o = io();
    expect(await inspectQuote.run([file(), '--eventlog', join(dir, 'log.bin'), '--json'], o)).toBe(0);
    const j = JSON.parse(o.out.join(''));
    expect(j.ok).toBe(true);
    expect(j.pcrSelect).toEqual([{ bank: 'sha256', pcrs: [0, 4, 7] }]);
    expect(j.eventlog.verifiedPcrs.sha256).toContain(7);
  });
  it('fails with the reason when the nonce is not the expected one', async () => {
    await writeFile(file(), JSON.stringify(hex));
    await expect(inspectQuote.run([file(), '--nonce', 'abcd'], io())).rejects.toMatchObject({ code: 'ERR_TPM_QUOTE_NONCE' });
  });
  it('fails when a PCR value was changed in the file', async () => {
    await writeFile(file(), JSON.stringify({ ...hex, pcrs: { sha256: { ...hex.pcrs.sha256, '4': '00'.repeat(32) } } }));
    await expect(inspectQuote.run([file()], io())).rejects.toMatchObject({ code: 'ERR_TPM_QUOTE_PCR_DIGEST' });
  });
  it('rejects unknown fields', async () => {
    await writeFile(file(), JSON.stringify({ ...hex, extra: 1 }));
    await expect(inspectQuote.run([file()], io())).rejects.toMatchObject({ code: 'ERR_SCHEMA' });
  });
  it('rejects a malformed file before any crypto', async () => {
    await writeFile(file(), JSON.stringify({ ...hex, attest: 'not hex' }));
    await expect(inspectQuote.run([file()], io())).rejects.toMatchObject({ name: 'UserError', code: 'ERR_SCHEMA' });
  });
});
