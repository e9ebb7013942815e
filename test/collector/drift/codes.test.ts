import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DRIFT_CODES } from '../../../collector/src/drift/codes.js';

describe('drift code table', () => {
  const doc = readFileSync('docs/ARCHITECTURE.md', 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([a-z_.]+)` *\| ([a-z-]+) *\| /gm)].map((m) => [m[1]!, m[2]!]));

  it('docs/ARCHITECTURE.md lists every drift code with its claim', () => {
    for (const [code, { claim }] of Object.entries(DRIFT_CODES)) expect(rows.get(code), code).toBe(claim);
  });

  it('covers the codes the issue names', () => {
    const named = [
      'gpu.added',
      'gpu.removed',
      'gpu.replaced',
      'gpu.vbios_changed',
      'gpu.inforom_changed',
      'gpu.driver_changed',
      'platform.bios_changed',
      'platform.board_changed',
      'cpu.microcode_changed',
      'nic.firmware_changed',
      'hca.firmware_changed',
      'pci.device_added',
      'pci.device_removed',
      'secureboot.disabled',
      'tpm.pcr_changed',
      'tpm.ak_changed',
    ];
    for (const c of named) expect(Object.keys(DRIFT_CODES)).toContain(c);
  });
});
