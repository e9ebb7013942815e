/**
 * npm run bench:dashboard — how the dashboard's fleet API behaves at fleet scale.
 * Fills a real SQLite store with N nodes (default 10,000; BENCH_NODES overrides), starts the
 * real collector on loopback, and times GET /v1/dashboard/fleet pages (unfiltered, by status,
 * by drift code, by GPU model, by search, deep offset) and, for comparison, GET /v1/nodes.
 * Prints p50/p99 per query, page size in bytes, fleet load time and collector RSS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCollectorConfig } from '../../collector/src/config.js';
import { silentLogger } from '../../collector/src/logger.js';
import { startCollector } from '../../collector/src/server.js';
import { openSqliteStore } from '../../collector/src/store/index.js';
import type { NodeRecord } from '../../collector/src/store/store.js';
import type { TrustStatus } from '../../shared/src/report/types.js';

const N = Number(process.env.BENCH_NODES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'nodeseal-bench-dash-'));
const store = await openSqliteStore(join(dir, 'bench.db'));
await store.db.exec('PRAGMA synchronous = OFF'); // setup only: the fill is not what is measured
const now = Date.now();
const models = ['NVIDIA H100 80GB HBM3', 'NVIDIA A100-SXM4-80GB', 'NVIDIA H200', 'NVIDIA L40S'];
const drivers = ['550.54.15', '535.54.03', '560.28.03'];
const codes = ['gpu.vbios_changed', 'gpu.replaced', 'platform.bios_changed', 'tpm.pcr_changed'];
let t0 = performance.now();
for (let i = 0; i < N; i++) {
  const status: TrustStatus = i % 50 === 0 ? 'untrusted' : i % 97 === 0 ? 'unknown' : 'trusted';
  const n: NodeRecord = {
    nodeId: `gpu-${String(i).padStart(5, '0')}`,
    jwk: null,
    kid: null,
    akPublic: null,
    lastSeq: 10,
    status,
    reasons: status === 'untrusted' ? [{ code: codes[(i / 50) % codes.length]!, claim: 'firmware', detail: `GPU ${i % 8} changed` }] : [],
    firstSeenAt: new Date(now - 86_400_000).toISOString(),
    lastSeenAt: new Date(now).toISOString(),
    verifiedAt: status === 'unknown' ? null : new Date(now - (i % 13 === 0 ? 3_600_000 : 5_000)).toISOString(),
    enrolledVia: 'tofu',
    revokedAt: null,
    summary: {
      gpuCount: 8,
      gpuModel: models[i % models.length]!,
      driver: drivers[i % drivers.length]!,
      vbios: ['96.00.5E.00.01'],
      biosVersion: '2.1.7',
      inventoryDigest: `sha256:${i}`,
      pcrDigest: null,
    },
  };
  await store.upsertNode(n);
}
const fillMs = performance.now() - t0;

t0 = performance.now();
const c = await startCollector(
  { ...defaultCollectorConfig(), listen: { host: '127.0.0.1', port: 0 }, db: join(dir, 'unused.db') },
  { logger: silentLogger(), store },
);
const startMs = performance.now() - t0;

async function time(path: string): Promise<{ p50: number; p99: number; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const s = performance.now();
    const r = await fetch(c.url + path);
    const b = await r.arrayBuffer();
    ms.push(performance.now() - s);
    bytes = b.byteLength;
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length * 0.5)]!, p99: ms[Math.floor(ms.length * 0.99)]!, bytes };
}

const queries: Array<[string, string]> = [
  ['fleet page 1 (attention first)', '/v1/dashboard/fleet?limit=50'],
  ['status=untrusted', '/v1/dashboard/fleet?status=untrusted&limit=50'],
  ['status=stale', '/v1/dashboard/fleet?status=stale&limit=50'],
  ['code=gpu.replaced', '/v1/dashboard/fleet?code=gpu.replaced&limit=50'],
  ['gpuModel + driver', `/v1/dashboard/fleet?gpuModel=${encodeURIComponent(models[0]!)}&driver=550.54.15&limit=50`],
  ['search=gpu-099', '/v1/dashboard/fleet?search=gpu-099&limit=50'],
  ['deep page (offset 9,900)', '/v1/dashboard/fleet?offset=9900&limit=50'],
  ['GET /v1/nodes?limit=50 (nodes API, SQL)', '/v1/nodes?limit=50'],
  ['GET /metrics', '/metrics'],
];
console.log(`nodeseal dashboard bench: ${N} nodes in SQLite, ${ROUNDS} sequential requests per query, loopback HTTP`);
console.log(`fill store ${fillMs.toFixed(0)} ms; collector start incl. trust cache + fleet view load ${startMs.toFixed(0)} ms`);
for (const [name, path] of queries) {
  const r = await time(path);
  console.log(
    `${name.padEnd(42)} p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ${String(r.bytes).padStart(7)} bytes`,
  );
}
console.log(
  `collector RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (store, collector and load generator share this process)`,
);
await c.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
