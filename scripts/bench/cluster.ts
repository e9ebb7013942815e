/**
 * npm run bench:cluster — two `nodeseal collector` processes (A, B) on one fresh PostgreSQL
 * schema (cluster mode), loaded by the simulated agents of collector-load.ts (real JWS reports
 * with software TPM quotes), against one lone collector on SQLite under the same load.
 *
 * Prints, each beside its goal (figures, not asserts):
 *   1. total verified reports/s with the agents split between A and B (BENCH_SECONDS, 20 s);
 *   2. cross-collector trust propagation: a node on A flips untrusted (new boot chain) and
 *      trusted (approved through A); time until B's /v1/trust/watch SSE stream shows each
 *      change, p50/p99 over BENCH_FLIPS changes (goal p99 < 1 s);
 *   3. leader failover: SIGKILL the leader (cluster_leader), time until the other holds
 *      leadership (goal < 15 s);
 *   4. collector CPU per verified report, cluster vs the lone SQLite collector (goal ≤ 1.25);
 *   and PostgreSQL bytes per stored report / per node per day at the default 60 s interval.
 *
 * Env: BENCH_AGENTS (64, split between A and B; the lone collector gets half), BENCH_SECONDS (20),
 * BENCH_WARMUP_S (3), BENCH_FLIPS (50).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import WebSocket from 'ws';
import { collectInventory } from '../../agent/src/inventory.js';
import { createHostPorts } from '../../agent/src/ports/index.js';
import { withDefaultUser } from '../../collector/src/store/postgres-db.js';
import { simulatedBootLog } from '../../shared/src/eventlog/index.js';
import { generateIdentity } from '../../shared/src/jws/index.js';
import { REPORT_JWS_TYP } from '../../shared/src/report/types.js';
import { softwareQuote } from '../../shared/src/tpm/index.js';
import { pgTestSchema } from '../../test/e2e/harness.js';
import { freePort, waitHealthy } from '../../test/helpers/net.js';

const AGENTS = Number(process.env.BENCH_AGENTS ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const FLIPS = Number(process.env.BENCH_FLIPS ?? 50);
const TOKEN = process.env.NODESEAL_BOOTSTRAP_TOKEN ?? 'bench-cluster-bootstrap-token-'.padEnd(48, 'x');
const node = process.execPath;

interface Collector {
  name: string;
  proc: ChildProcess;
  url: string;
  wsUrl: string;
  output: () => string;
}

async function startCollector(name: string, store: string[]): Promise<Collector> {
  const port = await freePort();
  const proc = spawn(
    'bash',
    [
      '-c',
      `ulimit -n 20000 && exec "$@"`,
      'bash',
      node,
      '--import',
      'tsx',
      'bin/nodeseal.ts',
      'collector',
      '--listen',
      `127.0.0.1:${port}`,
      ...store,
      '--interval',
      '3600',
      '--allow-tofu',
      '--log-level',
      'warn',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODESEAL_BOOTSTRAP_TOKEN: TOKEN,
        // As in bench:collector: closed-loop agents far exceed the per-connection default limit.
        NODESEAL_RATE_LIMIT_PER_SEC: '10000',
        NODESEAL_RATE_LIMIT_BURST: '100000',
      },
    },
  );
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  proc.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL') console.log(`!! collector ${name} exited (${code ?? signal}); its output ends: ${out.slice(-2000)}`);
  });
  await waitHealthy(url, proc, 60_000);
  return { name, proc, url, wsUrl: `ws://127.0.0.1:${port}`, output: () => out };
}

function cpuSeconds(pid: number): number {
  let f: string;
  try {
    f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return Number.NaN; // the process is gone
  }
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

interface LoadResult {
  verdicts: number;
  perSec: number;
  p50: number;
  p99: number;
  errors: number;
  errorCodes: Record<string, number>;
  /** Collector CPU seconds over the load's measured window. */
  cpu: number;
}

/** One collector-load.ts process (throughput mode) against `c`; samples c's CPU at the window marks. */
function runLoad(c: Collector, agents: number): Promise<LoadResult> {
  const load = spawn('bash', ['-c', 'ulimit -n 20000 && exec "$@"', 'bash', node, '--import', 'tsx', 'scripts/bench/collector-load.ts'], {
    env: {
      ...process.env,
      BENCH_URL: c.wsUrl,
      BENCH_MODE: 'throughput',
      BENCH_AGENTS: String(agents),
      BENCH_SECONDS: String(SECONDS),
      BENCH_WARMUP_S: String(WARMUP_S),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const marks: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: load.stdout! });
    rl.on('line', (l) => {
      const m = JSON.parse(l);
      if (m.mode === 'window') {
        marks[m.phase] = cpuSeconds(c.proc.pid!);
        return;
      }
      rl.close();
      resolve({ ...m, cpu: (marks.end ?? NaN) - (marks.start ?? NaN) });
    });
    load.once('exit', (code) => code !== 0 && reject(new Error(`load generator exited (${code})`)));
  });
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) };
  } catch {
    return { status: res.status, json: text };
  }
}

/** B's /v1/trust/watch for one node: resolves `next(status)` when a trust event with that status arrives. */
async function watch(base: string, nodeId: string) {
  const ctl = new AbortController();
  const res = await fetch(`${base}/v1/trust/watch?nodes=${encodeURIComponent(nodeId)}`, {
    headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
    signal: ctl.signal,
  });
  if (!res.ok || !res.body) throw new Error(`watch: ${res.status} ${await res.text()}`);
  const st: { waiter: { status: string; resolve: (at: number) => void } | null } = { waiter: null };
  void (async () => {
    const dec = new TextDecoder();
    let buf = '';
    let event = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, '');
          buf = buf.slice(i + 1);
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:') && event === 'trust') {
            const d = JSON.parse(line.slice(5));
            const w = st.waiter;
            if (w && d.nodeId === nodeId && d.status === w.status) {
              st.waiter = null;
              w.resolve(performance.now());
            }
          } else if (line === '') event = '';
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return {
    next(status: string, timeoutMs = 10_000): Promise<number> {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no '${status}' on B's watch within ${timeoutMs} ms`)), timeoutMs);
        st.waiter = {
          status,
          resolve: (at) => {
            clearTimeout(t);
            resolve(at);
          },
        };
      });
    },
    close: () => ctl.abort(),
  };
}

/** One hand-driven agent on A whose boot chain can change (simulated log variants). */
async function flipAgent(wsUrl: string, nodeId: string) {
  const inv = await collectInventory(createHostPorts({ root: 'test/fixtures/hosts/gpu8' }));
  const id = await generateIdentity('ES256');
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: id.kid, typ: REPORT_JWS_TYP })).toString('base64url');
  const signKey = createPrivateKey({ key: id.privateJwk as JsonWebKey, format: 'jwk' });
  const ak: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const selection = [{ bank: 'sha256' as const, pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }];
  let seq = 0;
  let nonce: string | null = null;
  let nonceWaiter: (() => void) | null = null;
  const verdicts = new Map<number, (v: { status: string }) => void>();
  const ws = new WebSocket(`${wsUrl}/v1/agent`, 'nodeseal.v1', { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.type === 'challenge') {
      nonce = m.nonce;
      nonceWaiter?.();
      nonceWaiter = null;
    } else if (m.type === 'verdict') verdicts.get(m.seq)?.(m);
    else if (m.type === 'error') console.error(`flip agent error: ${JSON.stringify(m)}`);
  });
  ws.send(JSON.stringify({ type: 'hello', nodeId, agentVersion: 'bench', kid: id.kid, jwk: id.publicJwk }));
  return {
    /** Sends a report with boot-log variant `variant`; resolves with the verdict. */
    async report(variant: string): Promise<{ status: string }> {
      while (!nonce) await new Promise<void>((r) => (nonceWaiter = r));
      const n: string = nonce;
      nonce = null;
      const log = simulatedBootLog(100, { variant, banks: ['sha256'] });
      const q = softwareQuote({ privateKey: ak, nonce: Buffer.from(n, 'hex'), pcrs: log.pcrs, selection });
      const pcrs = { sha256: Object.fromEntries(Object.entries(log.pcrs.sha256!).filter(([k]) => Number(k) <= 7)) };
      const s = ++seq;
      const payload = JSON.stringify({
        v: 1,
        nodeId,
        seq: s,
        nonce: n,
        collectedAt: new Date().toISOString(),
        inventory: inv.inventory,
        inventoryDigest: inv.inventoryDigest,
        tpm: {
          status: 'ok',
          pcrs,
          quote: { attest: q.attest.toString('hex'), signature: q.signature.toString('hex') },
          akPublic: q.akPublic.toString('hex'),
          eventLog: log.bytes.toString('base64'),
        },
      });
      const input = `${header}.${Buffer.from(payload).toString('base64url')}`;
      const jws = `${input}.${sign('sha256', Buffer.from(input), { key: signKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
      const v = new Promise<{ status: string }>((resolve) => verdicts.set(s, resolve));
      ws.send(JSON.stringify({ type: 'report', jws }));
      return v;
    },
    close: () => ws.terminate(),
  };
}

async function main() {
  const t0 = Date.now();
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version}; ${AGENTS} agents, ${SECONDS} s windows`);
  const db = await pgTestSchema('bench_cluster');
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-bench-cluster-'));
  const procs: ChildProcess[] = [];
  const killAll = () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const sql = async (text: string) => {
    const c = new pg.Client({ connectionString: withDefaultUser(db.url) });
    await c.connect();
    try {
      return (await c.query(text)).rows;
    } finally {
      await c.end();
    }
  };
  try {
    // 4 (baseline): one lone collector on SQLite with half the agents (the load each cluster collector gets).
    const lone = await startCollector('lone', ['--db', join(dir, 'lone.db')]);
    procs.push(lone.proc);
    const l = await runLoad(lone, AGENTS / 2);
    lone.proc.kill('SIGKILL');
    const loneCpu = (1000 * l.cpu) / l.verdicts;
    console.log(
      `lone SQLite collector, ${AGENTS / 2} agents: ${l.perSec.toFixed(0)} verified reports/s, p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, ` +
        `CPU ${loneCpu.toFixed(2)} ms/report, errors ${l.errors} ${JSON.stringify(l.errorCodes)}`,
    );

    // 1. Two collectors on one schema; A first (registers the fleet key), then B.
    const a = await startCollector('A', ['--postgres', db.url, '--collector-id', 'A']);
    procs.push(a.proc);
    // 4b: A alone first (cluster mode, PostgreSQL) under exactly the lone collector's load, before B competes for the CPUs.
    const solo = await runLoad(a, AGENTS / 2);
    const soloCpu = (1000 * solo.cpu) / solo.verdicts;
    const b = await startCollector('B', ['--postgres', db.url, '--collector-id', 'B']);
    procs.push(b.proc);
    const [ra, rb] = await Promise.all([runLoad(a, AGENTS / 2), runLoad(b, AGENTS / 2)]);
    const total = ra.perSec + rb.perSec;
    console.log(
      `1. cluster throughput (A + B, ${AGENTS / 2} agents each, ${SECONDS} s): ${total.toFixed(0)} verified reports/s ` +
        `(A ${ra.perSec.toFixed(0)}, B ${rb.perSec.toFixed(0)}; lone SQLite ${l.perSec.toFixed(0)} with half the agents); ` +
        `p50/p99 A ${ra.p50.toFixed(1)}/${ra.p99.toFixed(1)} ms, B ${rb.p50.toFixed(1)}/${rb.p99.toFixed(1)} ms; errors A ${ra.errors} ${JSON.stringify(ra.errorCodes)}, B ${rb.errors} ${JSON.stringify(rb.errorCodes)}`,
    );
    const clusterCpu = (1000 * (ra.cpu + rb.cpu)) / (ra.verdicts + rb.verdicts);
    console.log(
      `4. collector CPU per verified report: cluster ${clusterCpu.toFixed(2)} ms (A ${((1000 * ra.cpu) / ra.verdicts).toFixed(2)}, B ${((1000 * rb.cpu) / rb.verdicts).toFixed(2)}) ` +
        `vs lone SQLite ${loneCpu.toFixed(2)} ms: ratio ${(clusterCpu / loneCpu).toFixed(2)} (goal ≤ 1.25)`,
    );
    console.log(
      `4b. same, A alone in cluster mode under the lone collector's exact load (${AGENTS / 2} agents, B not yet started): ${solo.perSec.toFixed(0)} verified reports/s, ` +
        `p50 ${solo.p50.toFixed(1)} ms, p99 ${solo.p99.toFixed(1)} ms, CPU ${soloCpu.toFixed(2)} ms/report: ratio ${(soloCpu / loneCpu).toFixed(2)} (goal ≤ 1.25)`,
    );

    // Optional: PostgreSQL footprint.
    const [size] = await sql(
      `SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0)::bigint AS bytes
         FROM pg_tables WHERE schemaname = current_schema()`,
    );
    const [counts] = await sql('SELECT count(*)::bigint AS nodes, coalesce(sum(last_seq), 0)::bigint AS reports FROM nodes');
    const bytes = Number(size.bytes);
    const nodes = Number(counts.nodes);
    const reports = Number(counts.reports);
    const perReport = bytes / Math.max(1, reports);
    console.log(
      `   PostgreSQL: ${(bytes / 2 ** 20).toFixed(1)} MiB for ${nodes} nodes, ${reports} reports (A alone, then A + B) → ` +
        `${perReport.toFixed(0)} bytes/report → ~${((perReport * 1440) / 2 ** 20).toFixed(1)} MiB per node per day at the default 60 s interval`,
    );

    // 2. Trust propagation A → B's watch stream.
    const nodeId = `flip-${process.pid}`;
    const agent = await flipAgent(a.wsUrl, nodeId);
    const first = await agent.report('v0');
    if (first.status !== 'trusted') console.log(`   (flip node's first verdict: ${JSON.stringify(first)})`);
    const w = await watch(b.url, nodeId);
    await new Promise((r) => setTimeout(r, 300));
    const delays: number[] = [];
    let failures = 0;
    for (let i = 1; delays.length + failures < FLIPS; i++) {
      try {
        // Untrusted: a new boot chain (PCRs changed) reported on A.
        let seen = w.next('untrusted');
        const v = await agent.report(`v${i}`);
        let committed = performance.now();
        if (v.status !== 'untrusted') throw new Error(`verdict ${JSON.stringify(v)}`);
        delays.push((await seen) - committed);
        // Trusted: approved through A.
        seen = w.next('trusted');
        const r = await api(a.url, 'POST', `/v1/nodes/${nodeId}/approve`, { reason: 'bench flip' });
        committed = performance.now();
        if (r.status !== 200) throw new Error(`approve ${r.status} ${JSON.stringify(r.json)}`);
        delays.push((await seen) - committed);
      } catch (e) {
        failures++;
        console.log(`   flip ${i}: ${(e as Error).message}`);
      }
    }
    w.close();
    agent.close();
    delays.sort((x, y) => x - y);
    console.log(
      `2. trust propagation A → B's /v1/trust/watch (${delays.length} changes, ${failures} failed; from A's verdict / approve response): ` +
        `min ${delays[0]?.toFixed(0)} ms, p50 ${pct(delays, 50).toFixed(0)} ms, p99 ${pct(delays, 99).toFixed(0)} ms, max ${delays.at(-1)?.toFixed(0)} ms (goal p99 < 1000 ms)`,
    );

    // 3. Leader failover.
    const leaderRow = async () =>
      (await sql('SELECT collector_id, elected_at FROM cluster_leader WHERE id = 1'))[0] as
        | { collector_id: string; elected_at: string }
        | undefined;
    let leader = await leaderRow();
    for (let i = 0; !leader && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      leader = await leaderRow();
    }
    if (!leader) console.log('3. leader failover: no row in cluster_leader');
    else {
      const victim = leader.collector_id === 'A' ? a : b;
      const other = victim === a ? b : a;
      const logged = /elected fleet leader/.test(victim.output()) ? ' (its log says so)' : '';
      const killedAt = performance.now();
      const killedWall = Date.now();
      victim.proc.kill('SIGKILL');
      let took = NaN;
      while (performance.now() - killedAt < 60_000) {
        const r = await leaderRow();
        if (r && r.collector_id === other.name && Number(r.elected_at) >= killedWall - 1000) {
          took = performance.now() - killedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      console.log(
        `3. leader failover: leader ${victim.name}${logged} SIGKILLed; ${other.name} holds leadership (cluster_leader) after ${(took / 1000).toFixed(2)} s (goal < 15 s)`,
      );
    }
    // Anything the collectors logged beyond their two start-up warnings (--log-level warn).
    const startup = /no --ek-ca-dir|--allow-tofu: nodes without|nodeseal collector: listening/;
    for (const c of [a, b]) {
      const extra = c
        .output()
        .split('\n')
        .filter((line) => line.trim() && !startup.test(line));
      console.log(
        `   collector ${c.name}: ${extra.length} further log lines${extra.length ? `, last: ${extra.slice(-3).join(' | ').slice(-600)}` : ''}`,
      );
    }
  } finally {
    killAll();
    await new Promise((r) => setTimeout(r, 300));
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
    console.log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s; schema ${db.schema} dropped`);
  }
}

await main();
process.exit(0);
