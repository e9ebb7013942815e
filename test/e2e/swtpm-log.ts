import { createHash } from 'node:crypto';
import { appendFile, copyFile, readFile } from 'node:fs/promises';
import { parseEventLog, imageLoadData, EV } from '../../shared/src/eventlog/index.js';
import type { Swtpm } from '../helpers/swtpm.js';

const SWTPM_BANKS = new Set(['sha1', 'sha256', 'sha384', 'sha512']);

function extendArg(pcr: number, digests: Record<string, Buffer>): string {
  const parts = Object.entries(digests)
    .filter(([b]) => SWTPM_BANKS.has(b))
    .map(([b, d]) => `${b}=${d.toString('hex')}`);
  return `${pcr}:${parts.join(',')}`;
}

/**
 * Gives a swtpm the measured boot of a real recorded event log: copies the log to `dest` and
 * extends every measured event's digests into the swtpm's PCRs, so the log replays against
 * what the swtpm quotes.
 */
export async function bootSwtpmWithLog(swtpm: Swtpm, fixture: string, dest: string): Promise<void> {
  await copyFile(fixture, dest);
  const log = parseEventLog(await readFile(dest));
  if (log.startupLocality !== null && log.startupLocality !== 0) throw new Error('bootSwtpmWithLog: the log needs StartupLocality 0');
  const args = log.events.filter((e) => e.type !== EV.NO_ACTION).map((e) => extendArg(e.pcr, e.digests));
  await swtpm.tools('tpm2_pcrextend', args);
}

/**
 * "A new bootloader": appends an EV_EFI_BOOT_SERVICES_APPLICATION record to the log file (as
 * firmware would) and extends the same digests into PCR 4 of the swtpm.
 */
export async function measureNewBootloader(swtpm: Swtpm, logFile: string, name: string): Promise<void> {
  const log = parseEventLog(await readFile(logFile));
  const algs = log.specId!.algorithms;
  const image = createHash('sha256').update(`bootloader image ${name}`).digest();
  const data = imageLoadData(`\\EFI\\BOOT\\${name}`);
  const digests: Record<string, Buffer> = {};
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  parts.push(u32(4), u32(EV.EFI_BOOT_SERVICES_APPLICATION), u32(algs.length));
  for (const a of algs) {
    const d = createHash(a.name).update(image).digest();
    digests[a.name] = d;
    const id = Buffer.alloc(2);
    id.writeUInt16LE(a.id);
    parts.push(id, d);
  }
  parts.push(u32(data.length), data);
  await appendFile(logFile, Buffer.concat(parts));
  await swtpm.tools('tpm2_pcrextend', [extendArg(4, digests)]);
}
