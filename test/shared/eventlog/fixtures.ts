import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The real event logs under test/fixtures/eventlogs (binary files; .json/.yaml are expectations). */
export const EVENTLOG_ROOT = 'test/fixtures/eventlogs';

export interface LogFixture {
  name: string;
  path: string;
  bytes: Buffer;
}

export function logFixtures(): LogFixture[] {
  const out: LogFixture[] = [];
  for (const dir of readdirSync(EVENTLOG_ROOT).sort()) {
    for (const f of readdirSync(join(EVENTLOG_ROOT, dir)).sort()) {
      if (f.endsWith('.json') || f.endsWith('.yaml')) continue;
      const path = join(EVENTLOG_ROOT, dir, f);
      out.push({ name: `${dir}/${f}`, path, bytes: readFileSync(path) });
    }
  }
  return out;
}

/** Logs we reject on purpose, with the code: not event logs, or a Spec ID event whose vendorInfo overruns its size. */
export const REJECTED: Record<string, string> = {
  'keylime/binary_bios_measurements-bogus': 'ERR_EVENTLOG_PCR_INDEX',
  'tpm2-tools/specid-vendordata.bin': 'ERR_EVENTLOG_SPECID',
};

export interface PcrsJson {
  file: string;
  eventlog: string;
  banks: Record<string, Record<string, string>>;
  replay_check?: string;
  notes?: string[];
  expected_efi_boot_services_application_digests?: Record<string, string[]>;
}

export function pcrsFixtures(): PcrsJson[] {
  const out: PcrsJson[] = [];
  for (const dir of readdirSync(EVENTLOG_ROOT).sort()) {
    for (const f of readdirSync(join(EVENTLOG_ROOT, dir)).sort()) {
      if (!f.endsWith('.pcrs.json')) continue;
      const j = JSON.parse(readFileSync(join(EVENTLOG_ROOT, dir, f), 'utf8')) as PcrsJson;
      out.push({ ...j, file: `${dir}/${f}`, eventlog: join(EVENTLOG_ROOT, dir, j.eventlog) });
    }
  }
  return out;
}
