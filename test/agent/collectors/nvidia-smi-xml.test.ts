import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNvidiaSmiXml } from '../../../agent/src/collectors/nvidia-smi-xml.js';
import { isNodesealError } from '../../../shared/src/errors.js';

const XML_DIR = 'test/fixtures/nvidia-smi/xml';
const TEXT_DIR = 'test/fixtures/nvidia-smi/q-text';
const xmlFiles = readdirSync(XML_DIR).filter((f) => f.endsWith('.xml'));
const v100 = readFileSync(join(XML_DIR, 'datakit__v100s-pcie-32gb-x8.xml'), 'utf8');

/** Independent reading of the file: one block per <gpu>, the first <tag>value</tag> at child depth. */
function expected(xml: string) {
  const blocks = xml.split(/<gpu id="/).slice(1);
  const pick = (block: string, tag: string) => {
    const m = new RegExp(`\\n[ \\t]*<${tag}>([^<]*)</${tag}>`).exec(block);
    const v = m?.[1]?.trim();
    return v === undefined || v === '' || v === 'N/A' ? null : v;
  };
  const driver = /<driver_version>([^<]*)<\/driver_version>/.exec(xml)?.[1]?.trim() ?? null;
  return blocks.map((b) => ({
    serial: pick(b, 'serial'),
    uuid: pick(b, 'uuid'),
    vbios: pick(b, 'vbios_version'),
    busId: pick(b, 'pci_bus_id') ?? b.slice(0, b.indexOf('"')),
    driver: driver === 'N/A' ? null : driver,
  }));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (isNodesealError(e)) return e.code;
    throw e;
  }
  return undefined;
}

describe('parseNvidiaSmiXml on every recorded nvidia-smi -q -x file', () => {
  it('has the fixtures', () => expect(xmlFiles.length).toBeGreaterThanOrEqual(19));
  it.each(xmlFiles)('%s: serial, UUID, VBIOS, driver and PCI bus id match the file', (file) => {
    const xml = readFileSync(join(XML_DIR, file), 'utf8');
    const { gpus } = parseNvidiaSmiXml(xml);
    const want = expected(xml);
    expect(gpus).toHaveLength(want.length);
    expect(gpus.length).toBeGreaterThan(0);
    gpus.forEach((g, i) => {
      expect({ serial: g.serial, uuid: g.uuid, vbios: g.vbiosVersion, busId: g.pciBusId, driver: g.driverVersion }).toEqual(want[i]);
      expect(g.index).toBe(i);
    });
  });
});

describe('parseNvidiaSmiXml details', () => {
  it('reads firmware and identity fields of the 8-GPU V100S node', () => {
    const { gpus, driverVersion, cudaVersion } = parseNvidiaSmiXml(v100);
    expect(driverVersion).toBe('460.73.01');
    expect(cudaVersion).toBe('11.2');
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(8);
    expect(gpus[0]).toMatchObject({
      productName: 'Tesla V100S-PCIE-32GB',
      productBrand: 'Tesla',
      pciDeviceId: '1DF610DE',
      pciSubsystemId: '13D610DE',
      boardId: '0xd',
      gpuPartNumber: '900-2G500-0040-000',
      inforom: { image: 'G500.0212.00.02', oem: '1.1', ecc: '5.0', power: null },
      eccMode: 'Enabled',
      persistenceMode: 'Disabled',
      migMode: null,
    });
  });

  it('reads architecture, GSP firmware, board part number and fabric identity from a v13 file', () => {
    const [g] = parseNvidiaSmiXml(readFileSync(join(XML_DIR, 'telegraf__pro-6000-maxq-blackwell-v13.xml'), 'utf8')).gpus;
    expect(g).toMatchObject({
      architecture: 'Blackwell',
      gspFirmwareVersion: '590.44.01',
      boardPartNumber: '900-5G153-2200-000',
      boardId: '0x6100',
    });
    expect(g!.fabric).toMatchObject({ 'platformInfo.module_id': '1', 'platformInfo.gpu_fabric_guid': '0x0000000000000000' });
  });

  it('ignores volatile values: temperatures, clocks, utilisation, memory used, power, processes', () => {
    const busy = v100
      .replace(/<gpu_temp>[^<]*<\/gpu_temp>/g, '<gpu_temp>91 C</gpu_temp>')
      .replace(/<gpu_util>[^<]*<\/gpu_util>/g, '<gpu_util>3 %</gpu_util>')
      .replace(/<used>[^<]*<\/used>/g, '<used>1 MiB</used>')
      .replace(/<power_draw>[^<]*<\/power_draw>/g, '<power_draw>12.00 W</power_draw>')
      .replace(/<graphics_clock>[^<]*<\/graphics_clock>/g, '<graphics_clock>135 MHz</graphics_clock>')
      .replace(/<timestamp>[^<]*<\/timestamp>/, '<timestamp>Mon Jan  1 00:00:00 2024</timestamp>');
    expect(busy).not.toBe(v100);
    expect(parseNvidiaSmiXml(busy)).toEqual(parseNvidiaSmiXml(v100));
  });

  it('sees a changed VBIOS', () => {
    const flashed = v100.replace('<vbios_version>88.00.98.00.01</vbios_version>', '<vbios_version>88.00.99.00.01</vbios_version>');
    expect(parseNvidiaSmiXml(flashed).gpus[0]!.vbiosVersion).toBe('88.00.99.00.01');
  });
});

describe('parseNvidiaSmiXml rejects bad input with stable codes', () => {
  const texts = readdirSync(TEXT_DIR);
  it.each(texts)('text-format sample %s is detected as ERR_NVIDIA_SMI_TEXT_FORMAT', (file) => {
    expect(codeOf(() => parseNvidiaSmiXml(readFileSync(join(TEXT_DIR, file), 'utf8')))).toBe('ERR_NVIDIA_SMI_TEXT_FORMAT');
  });
  it.each([
    ['empty output', '', 'ERR_NVIDIA_SMI_EMPTY'],
    ['whitespace only', '\n  \n', 'ERR_NVIDIA_SMI_EMPTY'],
    ['truncated output', v100.slice(0, Math.floor(v100.length / 2)), 'ERR_NVIDIA_SMI_XML'],
    ['malformed XML', '<nvidia_smi_log><gpu id="x"><serial>1</gpu></nvidia_smi_log>', 'ERR_NVIDIA_SMI_XML'],
    ['not XML at all', "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", 'ERR_NVIDIA_SMI_XML'],
    [
      'entity declarations',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><nvidia_smi_log>&a;</nvidia_smi_log>',
      'ERR_NVIDIA_SMI_XML',
    ],
    ['another root element', '<?xml version="1.0"?><something><gpu id="a"/></something>', 'ERR_NVIDIA_SMI_SCHEMA'],
    ['empty gpu element', '<nvidia_smi_log><gpu></gpu></nvidia_smi_log>', 'ERR_NVIDIA_SMI_SCHEMA'],
  ])('%s', (_name, input, code) => {
    expect(codeOf(() => parseNvidiaSmiXml(input))).toBe(code);
  });
  it('a log with no GPUs is valid and empty', () => {
    expect(parseNvidiaSmiXml('<nvidia_smi_log><driver_version>535.54.03</driver_version></nvidia_smi_log>').gpus).toEqual([]);
  });
});
