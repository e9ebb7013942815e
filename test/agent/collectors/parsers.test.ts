import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCpuinfo } from '../../../agent/src/collectors/cpu.js';
import { dmiValue, parseDmidecode } from '../../../agent/src/collectors/dmidecode.js';
import { parseVpdSerial } from '../../../agent/src/collectors/disks.js';
import { parseNvidiaProcVersion } from '../../../agent/src/collectors/kernel.js';
import { parseEthtoolInfo, parseEthtoolPermanent } from '../../../agent/src/collectors/nics.js';
import { collectSecureBoot, efiBool } from '../../../agent/src/collectors/secure-boot.js';
import { commandBaseName } from '../../../agent/src/ports/recorded-names.js';
import { ReplayRunner } from '../../../agent/src/ports/replay-runner.js';
import { RootedFiles } from '../../../agent/src/ports/rooted-files.js';
import { isNodesealError } from '../../../shared/src/errors.js';

const DMI_DIR = 'test/fixtures/platform/dmidecode';

describe('parseDmidecode on real dmidecode outputs', () => {
  it.each(readdirSync(DMI_DIR).filter((f) => f.endsWith('.txt')))('%s', (file) => {
    const text = readFileSync(join(DMI_DIR, file), 'utf8');
    const s = parseDmidecode(text);
    // Oracle: the first "Version:" line after "BIOS Information" in the file.
    const bios = text.slice(text.indexOf('\nBIOS Information'));
    expect(s.get('BIOS Information')?.get('Version')).toBe(/\n\tVersion: (.*)/.exec(bios)![1]!.trim());
    const sys = text.slice(text.indexOf('\nSystem Information'));
    expect(s.get('System Information')?.get('Manufacturer')).toBe(/\n\tManufacturer: (.*)/.exec(sys)![1]!.trim());
  });
  it('treats vendor placeholders as no value', () => {
    expect(dmiValue('To be filled by O.E.M.')).toBeNull();
    expect(dmiValue('Default string')).toBeNull();
    expect(dmiValue(' 9000116105 ')).toBe('9000116105');
  });
});

describe('small parsers', () => {
  it('cpuinfo: model, sorted distinct microcode revisions, sockets from physical id', () => {
    const block = (id: number, mc: string) =>
      `processor\t: ${id}\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nphysical id\t: ${id % 2}\nmicrocode\t: ${mc}\ncpu MHz\t\t: ${1000 + id}.0\n`;
    const c = parseCpuinfo([block(0, '0x2b000461'), block(1, '0x2B000461'), block(2, '0x2b000590')].join('\n'));
    expect(c).toEqual({ model: 'Intel(R) Xeon(R) Platinum 8480+', microcode: '0x2b000461,0x2b000590', sockets: 2 });
    expect(parseCpuinfo('')).toEqual({ model: null, microcode: null, sockets: null });
  });
  it('ethtool -i (real sample) and -P', () => {
    expect(parseEthtoolInfo(readFileSync('test/fixtures/platform/ethtool/node_exporter__eth0.ethtool-i.txt', 'utf8'))).toEqual({
      driver: 'e1000e',
      driverVersion: '5.11.0-22-generic',
      firmwareVersion: '0.5-4',
      busInfo: '0000:00:1f.6',
    });
    expect(parseEthtoolPermanent('Permanent address: B8:CE:F6:01:02:03\n')).toBe('b8:ce:f6:01:02:03');
    expect(parseEthtoolPermanent('Permanent address: 00:00:00:00:00:00\n')).toBeNull();
  });
  it('NVIDIA /proc version line', () => {
    expect(
      parseNvidiaProcVersion(
        'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.54.03  Tue Jun  6 22:20:39 UTC 2023\nGCC version: gcc 12',
      ),
    ).toBe('535.54.03');
    expect(parseNvidiaProcVersion('NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build')).toBe('570.124.06');
    expect(parseNvidiaProcVersion('garbage')).toBeNull();
  });
  it('SCSI VPD page 0x80 serial and efivar booleans', () => {
    expect(parseVpdSerial(Buffer.concat([Buffer.from([0, 0x80, 0, 8]), Buffer.from('S4EWNX0R')]))).toBe('S4EWNX0R');
    expect(parseVpdSerial(Buffer.from([0, 0x80]))).toBeNull();
    expect(efiBool(Buffer.from([6, 0, 0, 0, 1]))).toBe(true);
    expect(efiBool(Buffer.from([6, 0, 0, 0, 0]))).toBe(false);
    expect(efiBool(Buffer.from([6, 0]))).toBeNull();
  });
  it('recorded command names are reversible-safe and documented', () => {
    expect(commandBaseName(['nvidia-smi', '-q', '-x'])).toBe('nvidia-smi_-q_-x');
    expect(commandBaseName(['dmidecode', '-t', '0,1,2,3'])).toBe('dmidecode_-t_0%2C1%2C2%2C3');
    expect(commandBaseName(['a_b', 'c d/e'])).toBe('a%5Fb_c%20d%2Fe');
  });
});

describe('ports on a recorded host', () => {
  it('Secure Boot from efivars bytes; files cannot climb out of the root', async () => {
    const root = await mkdtemp(join(tmpdir(), 'nodeseal-efi-'));
    try {
      const vars = join(root, 'sys/firmware/efi/efivars');
      await mkdir(vars, { recursive: true });
      await writeFile(join(vars, 'SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c'), Buffer.from([6, 0, 0, 0, 1]));
      await writeFile(join(vars, 'SetupMode-8be4df61-93ca-11d2-aa0d-00e098032b8c'), Buffer.from([6, 0, 0, 0, 0]));
      const files = new RootedFiles(root);
      const r = await collectSecureBoot({ files, runner: new ReplayRunner(root), timeoutMs: 100 });
      expect(r).toEqual({ status: { status: 'ok' }, value: { enabled: true, setupMode: false } });
      const code = await files.readText('/sys/../../etc/passwd').then(
        () => 'none',
        (e: unknown) => (isNodesealError(e) ? e.code : 'other'),
      );
      expect(code).toBe('ERR_PATH_OUTSIDE_ROOT');
      expect(await files.readText('/no/such/file')).toBeNull();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
