import { describe, expect, it } from 'vitest';
import { hardwareRows } from '../../../collector/src/cli/node.js';

describe('nodeseal node: hardware lines', () => {
  it('shows a node without GPUs as 0 and never prints a blank vbios', () => {
    expect(hardwareRows({ gpuCount: 0, gpuModel: null, driver: null, vbios: [], biosVersion: null })).toEqual([
      ['gpus', '0'],
      ['driver', null],
      ['vbios', '-'],
      ['bios', null],
    ]);
  });

  it('lists each distinct VBIOS once', () => {
    const rows = hardwareRows({
      gpuCount: 8,
      gpuModel: 'H100',
      driver: '550.54',
      vbios: ['96.00.99', '96.00.99', '96.00.AB'],
      biosVersion: '2.1',
    });
    expect(rows).toEqual([
      ['gpus', '8 × H100'],
      ['driver', '550.54'],
      ['vbios', '96.00.99, 96.00.AB'],
      ['bios', '2.1'],
    ]);
  });
});
