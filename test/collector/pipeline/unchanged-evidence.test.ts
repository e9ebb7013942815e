import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { inventoryDigest } from '../../../shared/src/inventory/canonicalise.js';
import { parseEventLog, replay } from '../../../shared/src/eventlog/index.js';
import type { Inventory, Reason } from '../../../shared/src/report/types.js';
import { diffInventory } from '../../../collector/src/drift/inventory.js';
import { createInventoryDiffer } from '../../../collector/src/drift/unchanged.js';
import { createEvidencePorts, createReplayCache, replayEventLogFull } from '../../../collector/src/pipeline/ports.js';
import { evaluate } from '../../../collector/src/pipeline/verdict.js';
import type { Baseline } from '../../../collector/src/store/store.js';
import { clone, recordedInventory } from '../drift/hosts.js';
import { pcrsFixtures } from '../../shared/eventlog/fixtures.js';

/**
 * The shortcuts for unchanged evidence (drift/unchanged.ts, the replay cache in
 * pipeline/ports.ts) must give exactly what the full computation gives, on real recorded
 * inventories and real event logs; and a changed value must still produce its drift code.
 */
const hosts = ['gpu8', 'a100'] as const;
const inv: Record<string, Inventory> = {};
beforeAll(async () => {
  for (const h of hosts) inv[h] = await recordedInventory(h);
});

const base = (i: Inventory): Baseline => ({
  nodeId: 'n1',
  inventory: i,
  inventoryDigest: inventoryDigest(i),
  pcrs: null,
  eventLog: null,
  approvedBy: 'tofu',
  reason: 'r',
  createdAt: '2026-01-01T00:00:00.000Z',
});
const codes = (rs: Reason[]) => rs.map((r) => r.code);

/** Inventories that canonicalise like the original (same digest): reordered lists, volatile fields. */
function sameDigestVariants(i: Inventory): Array<[string, Inventory]> {
  const reordered = clone(i);
  reordered.gpus.reverse();
  reordered.nics.reverse();
  reordered.pci.reverse();
  reordered.disks.reverse();
  const volatile = clone(i);
  for (const h of volatile.hcas) for (const p of h.ports) p.state = p.state === 'ACTIVE' ? 'DOWN' : 'ACTIVE';
  for (const s of Object.values(volatile.sources)) if (s.reason !== undefined) s.reason = `${s.reason} (again)`;
  return [
    ['identical copy', clone(i)],
    ['lists in another order', reordered],
    ['HCA link state and source reason text changed', volatile],
  ];
}

/** Inventories with a real change, and the drift code each must still produce. */
function changedVariants(i: Inventory): Array<[string, Inventory, string]> {
  const out: Array<[string, Inventory, string]> = [];
  const vbios = clone(i);
  vbios.gpus[0]!.vbiosVersion = '99.99.99.99.99';
  out.push(['VBIOS changed', vbios, 'gpu.vbios_changed']);
  const removed = clone(i);
  removed.gpus.pop();
  out.push(['GPU removed', removed, 'gpu.removed']);
  const driver = clone(i);
  driver.gpus[0]!.driverVersion = '1.2.3';
  out.push(['driver changed', driver, 'gpu.driver_changed']);
  if (i.platform) {
    const bios = clone(i);
    bios.platform!.biosVersion = 'X-9.9';
    out.push(['BIOS changed', bios, 'platform.bios_changed']);
  }
  const down = clone(i);
  down.sources.gpu = { status: 'error', code: 'ERR_NVIDIA_SMI', reason: 'nvidia-smi failed' };
  out.push(['GPU source failing', down, 'inventory.source_unavailable']);
  return out;
}

describe('inventory drift shortcut (drift/unchanged.ts) on the recorded hosts', () => {
  for (const h of hosts) {
    it(`${h}: an inventory with the baseline's digest skips the diff, with the full diff's (empty) result`, () => {
      const differ = createInventoryDiffer();
      const b = base(inv[h]!);
      for (const [name, cur] of sameDigestVariants(inv[h]!)) {
        const d = inventoryDigest(cur);
        expect(d, name).toBe(b.inventoryDigest);
        const full = diffInventory(b.inventory, cur);
        expect(differ(b, cur, d), name).toEqual(full);
        expect(full, name).toEqual([]);
      }
      expect(differ.skipped).toBe(3);
    });

    it(`${h}: a changed value still produces its drift code, identical to the full diff`, () => {
      const differ = createInventoryDiffer();
      const b = base(inv[h]!);
      for (const [name, cur, code] of changedVariants(inv[h]!)) {
        const d = inventoryDigest(cur);
        expect(d, name).not.toBe(b.inventoryDigest);
        const got = differ(b, cur, d);
        expect(got, name).toEqual(diffInventory(b.inventory, cur));
        expect(codes(got), name).toContain(code);
      }
      expect(differ.skipped).toBe(0);
    });
  }

  it('never shortcuts a baseline that drifts against itself (devices that cannot be paired)', () => {
    const i = clone(inv.gpu8!);
    // Two GPUs with the same identity and bus id: pairing leaves them unpaired on both sides.
    i.gpus[1] = clone(i.gpus[0]!);
    const b = base(i);
    const self = diffInventory(i, clone(i));
    expect(self.length).toBeGreaterThan(0);
    const differ = createInventoryDiffer();
    const cur = clone(i);
    expect(differ(b, cur, inventoryDigest(cur))).toEqual(self);
    expect(differ.skipped).toBe(0);
  });

  it("never shortcuts when the stored baseline digest is not its inventory's", () => {
    const b = { ...base(inv.a100!), inventoryDigest: `sha256:${'0'.repeat(64)}` };
    const cur = clone(inv.a100!);
    cur.gpus[0]!.vbiosVersion = '99.99.99.99.99';
    const differ = createInventoryDiffer();
    // A caller claiming the same (wrong) digest still gets the full diff.
    expect(codes(differ(b, cur, b.inventoryDigest))).toContain('gpu.vbios_changed');
    expect(differ.skipped).toBe(0);
  });

  it('without a digest from the caller it always runs the full diff', () => {
    const differ = createInventoryDiffer();
    expect(differ(base(inv.gpu8!), clone(inv.gpu8!))).toEqual([]);
    expect(differ.skipped).toBe(0);
  });

  it('evaluate through the wired ports equals evaluate with the full diff', () => {
    const ports = createEvidencePorts();
    const b = base(inv.gpu8!);
    for (const [, cur] of [...sameDigestVariants(inv.gpu8!), ...changedVariants(inv.gpu8!).map(([n, c]) => [n, c] as const)]) {
      const evidence = {
        kind: 'fresh' as const,
        inventory: cur,
        pcrs: null,
        eventLog: null,
        akPublic: null,
        inventoryDigest: inventoryDigest(cur),
      };
      expect(ports.evaluate({ evidence, baseline: b, node: { akPublic: null, revokedAt: null } })).toEqual(
        evaluate({ evidence: { ...evidence, inventoryDigest: undefined }, baseline: b, node: { akPublic: null, revokedAt: null } }),
      );
    }
  });
});

describe('event-log replay cache (pipeline/ports.ts) on the real logs', () => {
  const outcome = (f: () => void): string => {
    try {
      f();
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code ?? 'uncoded';
    }
  };
  const fixtures = pcrsFixtures();

  it("gives the full replay's outcome for every recorded log, first and second time", () => {
    expect(fixtures.length).toBeGreaterThan(5);
    const cache = createReplayCache();
    let ok = 0;
    for (const f of fixtures) {
      const b64 = readFileSync(f.eventlog).toString('base64');
      const quoted = { pcrs: f.banks };
      const full = outcome(() => replayEventLogFull(b64, quoted));
      // Sanity: the full check is the shared replay over the parsed log.
      if (full === 'ok') expect(replay(parseEventLog(Buffer.from(b64, 'base64')), quoted.pcrs).ok).toBe(true);
      expect(
        outcome(() => cache.replay(b64, quoted)),
        f.file,
      ).toBe(full);
      expect(
        outcome(() => cache.replay(b64, quoted)),
        f.file,
      ).toBe(full);
      if (full === 'ok') ok++;
    }
    expect(ok).toBeGreaterThan(3);
    expect(cache.hits).toBe(ok);
  });

  it('a changed quoted PCR or a changed log byte is replayed again and fails as the full replay does', () => {
    const cache = createReplayCache();
    let checked = 0;
    for (const f of fixtures) {
      const bytes = readFileSync(f.eventlog);
      const b64 = bytes.toString('base64');
      if (outcome(() => replayEventLogFull(b64, { pcrs: f.banks })) !== 'ok') continue;
      cache.replay(b64, { pcrs: f.banks });
      // One quoted PCR value flipped.
      const bank = Object.keys(f.banks)[0]!;
      const idx = Object.keys(f.banks[bank]!)[0]!;
      const v = f.banks[bank]![idx]!;
      const flipped = { pcrs: { ...f.banks, [bank]: { ...f.banks[bank], [idx]: (v[0] === '0' ? '1' : '0') + v.slice(1) } } };
      const full = outcome(() => replayEventLogFull(b64, flipped));
      expect(full, f.file).not.toBe('ok');
      expect(
        outcome(() => cache.replay(b64, flipped)),
        f.file,
      ).toBe(full);
      expect(
        outcome(() => cache.replay(b64, flipped)),
        f.file,
      ).toBe(full);
      // Non-canonical base64 of the same bytes (a trailing newline) is still refused.
      expect(
        outcome(() => cache.replay(`${b64}\n`, { pcrs: f.banks })),
        f.file,
      ).toBe('ERR_EVENTLOG_BASE64');
      checked++;
    }
    expect(checked).toBeGreaterThan(3);
  });
});
