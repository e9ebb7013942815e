/**
 * npm run bench:trust — latency of GET /v1/nodes/:id/trust under a steady 2,000 requests/s.
 *
 * The collector runs in this process exactly as `nodeseal collector` starts it (startCollector:
 * real SQLite file, trust cache loaded from it, the full HTTP stack with router and JSON),
 * with 1,000 nodes stored. The load generator runs in a child process: an open-loop schedule
 * (requests are sent on the clock whether or not earlier ones finished, so a slow server
 * cannot hide its queueing), keep-alive connections, latency measured from each request's
 * scheduled time. Goal: p99 < 5 ms.
 *
 * Options (env): BENCH_RATE (default 2000), BENCH_SECONDS (10), BENCH_NODES (1000), BENCH_CONNS (32).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RATE = Number(process.env.BENCH_RATE ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const NODES = Number(process.env.BENCH_NODES ?? 1000);
const CONNS = Number(process.env.BENCH_CONNS ?? 32);

interface LoadResult {
  sent: number;
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  /** From each request's scheduled time (includes any lag of the generator itself). */
  latenciesMs: number[];
  /** From the moment the request was handed to the socket layer. */
  serviceMs: number[];
  elapsedMs: number;
}

/** Child process: open-loop load generator. */
async function loadgen(url: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNS });
  const res: LoadResult = { sent: 0, ok: 0, errors: 0, statuses: {}, latenciesMs: [], serviceMs: [], elapsedMs: 0 };
  const warmupMs = 1000;
  const total = Math.round(RATE * SECONDS);
  const intervalNs = 1e9 / RATE;
  const start = process.hrtime.bigint() + BigInt(warmupMs) * 1_000_000n;
  let inflight = 0;
  // Warm-up: connections opened, JIT warmed; not measured.
  await Promise.all(Array.from({ length: CONNS * 4 }, (_, i) => one(`gpu${String((i % NODES) + 1).padStart(4, '0')}`)));
  function one(node: string, scheduled?: bigint): Promise<void> {
    return new Promise((resolve) => {
      inflight++;
      const sentAt = process.hrtime.bigint();
      const req = http.get(`${url}/v1/nodes/${node}/trust`, { agent }, (r) => {
        r.resume();
        r.on('end', () => {
          inflight--;
          if (scheduled !== undefined) {
            res.statuses[r.statusCode ?? 0] = (res.statuses[r.statusCode ?? 0] ?? 0) + 1;
            if (r.statusCode === 200) res.ok++;
            const t = process.hrtime.bigint();
            res.latenciesMs.push(Number(t - scheduled) / 1e6);
            res.serviceMs.push(Number(t - sentAt) / 1e6);
          }
          resolve();
        });
      });
      req.on('error', () => {
        inflight--;
        if (scheduled !== undefined) res.errors++;
        resolve();
      });
    });
  }
  const pending: Promise<void>[] = [];
  await new Promise<void>((done) => {
    let i = 0;
    const tick = () => {
      const now = process.hrtime.bigint();
      while (i < total) {
        const at = start + BigInt(Math.round(i * intervalNs));
        if (at > now) break;
        pending.push(one(`gpu${String(Math.floor(Math.random() * NODES) + 1).padStart(4, '0')}`, at));
        res.sent++;
        i++;
      }
      if (i >= total) return done();
      setTimeout(tick, 1);
    };
    const wait = () => (process.hrtime.bigint() >= start ? tick() : setTimeout(wait, 1));
    wait();
  });
  await Promise.all(pending);
  res.elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  void inflight;
  agent.destroy();
  process.send!(res);
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const { loadCollectorConfig } = await import('../../collector/src/config.js');
  const { startCollector } = await import('../../collector/src/server.js');
  const { openSqliteStore } = await import('../../collector/src/store/index.js');
  const { silentLogger } = await import('../../collector/src/logger.js');
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-bench-trust-'));
  const db = join(dir, 'collector.db');
  const store = await openSqliteStore(db);
  const now = new Date().toISOString();
  for (let i = 1; i <= NODES; i++) {
    const nodeId = `gpu${String(i).padStart(4, '0')}`;
    const untrusted = i % 50 === 0;
    await store.upsertNode({
      nodeId,
      jwk: null,
      kid: null,
      akPublic: null,
      lastSeq: 1,
      status: untrusted ? 'untrusted' : 'trusted',
      reasons: untrusted ? [{ code: 'gpu.vbios_changed', claim: 'firmware', detail: 'GPU 0 VBIOS 96.00.5E.00.01 -> 96.00.5E.00.02' }] : [],
      firstSeenAt: now,
      lastSeenAt: now,
      verifiedAt: now,
      enrolledVia: 'tofu',
      revokedAt: null,
      summary: null,
    });
  }
  const config = loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db } });
  config.freshnessTtlSec = 3600;
  const collector = await startCollector(config, { logger: silentLogger(), store });
  // Time inside the collector, from the parsed request to the response handed to the socket.
  const inServer: number[] = [];
  collector.server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!req.url?.startsWith('/v1/nodes/')) return;
    const t0 = process.hrtime.bigint();
    res.once('finish', () => inServer.push(Number(process.hrtime.bigint() - t0) / 1e6));
  });
  const rssBefore = process.memoryUsage().rss;
  const child = fork(fileURLToPath(import.meta.url), ['--loadgen', collector.url], { stdio: 'inherit' });
  const result = await new Promise<LoadResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('exit', (code) => reject(new Error(`load generator exited ${code}`)));
  });
  child.kill();
  const rssAfter = process.memoryUsage().rss;
  await collector.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });

  const lat = result.latenciesMs.sort((a, b) => a - b);
  const svc = result.serviceMs.sort((a, b) => a - b);
  const srv = inServer.sort((a, b) => a - b);
  const cpus = (await import('node:os')).cpus().length;
  const load = (await import('node:os')).loadavg()[0]!.toFixed(2);
  const f = (n: number) => n.toFixed(2);
  const lines = [
    `bench:trust  GET /v1/nodes/:id/trust, ${NODES} nodes in the cache, open-loop ${RATE} req/s for ${SECONDS} s, ${CONNS} keep-alive connections, load generator in a separate process`,
    `  sent ${result.sent}, 200 OK ${result.ok}, errors ${result.errors}, statuses ${JSON.stringify(result.statuses)}`,
    `  achieved ${(result.ok / (result.elapsedMs / 1000)).toFixed(0)} req/s`,
    `  latency ms from send:           p50 ${f(pct(svc, 50))}  p90 ${f(pct(svc, 90))}  p99 ${f(pct(svc, 99))}  p99.9 ${f(pct(svc, 99.9))}  max ${f(svc[svc.length - 1] ?? NaN)}`,
    `  latency ms from scheduled time: p50 ${f(pct(lat, 50))}  p90 ${f(pct(lat, 90))}  p99 ${f(pct(lat, 99))}  p99.9 ${f(pct(lat, 99.9))}  max ${f(lat[lat.length - 1] ?? NaN)}  (adds the generator's own timer lag)`,
    `  in-server ms (request parsed → response written): p50 ${f(pct(srv, 50))}  p99 ${f(pct(srv, 99))}  max ${f(srv[srv.length - 1] ?? NaN)}`,
    `  machine: ${cpus} CPUs, load average ${load} at the end of the run`,
    `  collector RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssAfter / 2 ** 20).toFixed(0)} MiB after`,
    `  goal p99 < 5 ms (from send): ${pct(svc, 99) < 5 ? 'met' : 'NOT met'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (process.argv[2] === '--loadgen') void loadgen(process.argv[3]!);
else
  main().catch((e: unknown) => {
    process.stderr.write(`bench:trust failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
