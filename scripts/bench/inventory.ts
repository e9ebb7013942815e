/**
 * Inventory benchmark (issue: ≤ 20 ms to parse an 8-GPU nvidia-smi XML and build the canonical
 * inventory on one core, external process time excluded; RSS flat over 1,000 collections).
 * Prints figures; asserts nothing. Run: npm run bench:inventory
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseNvidiaSmiXml } from '../../agent/src/collectors/nvidia-smi-xml.js';
import { collectInventory } from '../../agent/src/inventory.js';
import { createHostPorts } from '../../agent/src/ports/host-ports.js';
import { canonicaliseInventory, inventoryDigest } from '../../shared/src/inventory/canonicalise.js';
import { canonicalJson } from '../../shared/src/canonical.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const HOST = 'test/fixtures/hosts/gpu8';
const xml = readFileSync(`${HOST}/commands/nvidia-smi_-q_-x.stdout`, 'utf8');

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `median ${q(0.5).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms, min ${s[0]!.toFixed(2)} ms`;
}

const { inventory } = await collectInventory(createHostPorts({ root: HOST }));

// 1. Parse the 8-GPU XML and build the canonical inventory with its digest (pure CPU work).
const parseOnly: number[] = [];
const full: number[] = [];
for (let i = 0; i < 300; i++) {
  const t0 = performance.now();
  const { gpus } = parseNvidiaSmiXml(xml);
  const t1 = performance.now();
  const inv = { ...inventory, gpus };
  canonicalJson(canonicaliseInventory(inv));
  inventoryDigest(inv);
  const t2 = performance.now();
  if (i >= 20) {
    parseOnly.push(t1 - t0);
    full.push(t2 - t0);
  }
}
console.log(
  `8-GPU nvidia-smi XML: ${(xml.length / 1024).toFixed(0)} KiB, ${inventory.gpus.length} GPUs, ${inventory.pci.length} PCI devices`,
);
console.log(`parse XML:                         ${stats(parseOnly)}`);
console.log(`parse + canonical inventory+digest: ${stats(full)}   (goal ≤ 20 ms)`);

// 2. Whole collection of the recorded host (file reads through the ports, no external processes).
const coll: number[] = [];
const rss = (): number => {
  gc();
  return process.memoryUsage().rss / 1024 / 1024;
};
const samples: Array<[number, number]> = [[0, rss()]];
const ports = createHostPorts({ root: HOST });
for (let i = 1; i <= 1000; i++) {
  const t0 = performance.now();
  await collectInventory(ports);
  coll.push(performance.now() - t0);
  if (i % 200 === 0) samples.push([i, rss()]);
}
console.log(`collectInventory (recorded gpu8):   ${stats(coll)}`);
console.log(`RSS after gc by collections: ${samples.map(([n, m]) => `${n}: ${m.toFixed(1)} MiB`).join(', ')}`);
const after200 = samples.find(([n]) => n === 200)![1];
console.log(`RSS growth 200→1000 collections: ${(samples.at(-1)![1] - after200).toFixed(1)} MiB (goal: noise)`);
