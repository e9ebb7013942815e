/**
 * Load generator for `npm run bench:collector` (runs in its own process; see collector.ts).
 * Simulated agents speak the real protocol over WebSocket: hello with their own ES256 key,
 * then for every challenge a real JWS report (the inventory of a recorded 8-GPU host, a
 * 100-event crypto-agile boot log, and a TPMS_ATTEST quote over the nonce signed with the
 * agent's software P-256 AK in the TPM's signature format).
 *
 *   BENCH_MODE=throughput  BENCH_AGENTS agents in a closed loop (each answers its next
 *                          challenge at once) for BENCH_WARMUP_S + BENCH_SECONDS; prints one
 *                          JSON line with verdicts/s and latencies over the measured window.
 *   BENCH_MODE=connections opens BENCH_CONNECTIONS agent connections (hello, challenge) and
 *                          holds them; prints {"held": n} and waits for stdin to close.
 */
import { createPrivateKey, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import { collectInventory } from '../../agent/src/inventory.js';
import { createHostPorts } from '../../agent/src/ports/index.js';
import { simulatedBootLog } from '../../shared/src/eventlog/index.js';
import { generateIdentity, type Identity } from '../../shared/src/jws/index.js';
import { REPORT_JWS_TYP } from '../../shared/src/report/types.js';
import { softwareQuote } from '../../shared/src/tpm/index.js';

const URL_BASE = process.env.BENCH_URL!;
const MODE = process.env.BENCH_MODE ?? 'throughput';
const AGENTS = Number(process.env.BENCH_AGENTS ?? 64);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000);

const inv = await collectInventory(createHostPorts({ root: 'test/fixtures/hosts/gpu8' }));
const log = simulatedBootLog(100, { banks: ['sha256'] });
const eventLog = log.bytes.toString('base64');
const selection = [{ bank: 'sha256' as const, pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }];
const pcrs = { sha256: Object.fromEntries(Object.entries(log.pcrs.sha256!).filter(([k]) => Number(k) <= 7)) };

interface SimAgent {
  nodeId: string;
  id: Identity;
  header: string;
  signKey: KeyObject;
  ak: KeyObject;
  seq: number;
  ws: WebSocket | null;
}

async function makeAgent(i: number, prefix: string): Promise<SimAgent> {
  const id = await generateIdentity('ES256');
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: id.kid, typ: REPORT_JWS_TYP })).toString('base64url');
  return {
    nodeId: `${prefix}-${String(i).padStart(5, '0')}`,
    id,
    header,
    signKey: createPrivateKey({ key: id.privateJwk as JsonWebKey, format: 'jwk' }),
    ak: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    seq: 0,
    ws: null,
  };
}

/**
 * One report: a fresh quote over the nonce and an ES256 JWS over the payload. The payload's
 * constant part (inventory, event log, PCRs) is serialised once; the JWS is made with
 * node:crypto directly (same bytes jose would produce: base64url(header).base64url(payload).sig)
 * so the generator spends its CPU on the two signatures, not on re-serialising 26 KB.
 */
const invJson = JSON.stringify(inv.inventory);
const pcrsJson = JSON.stringify(pcrs);
function report(a: SimAgent, nonce: string): string {
  const q = softwareQuote({ privateKey: a.ak, nonce: Buffer.from(nonce, 'hex'), pcrs: log.pcrs, selection });
  const tpm = `{"status":"ok","pcrs":${pcrsJson},"quote":{"attest":"${q.attest.toString('hex')}","signature":"${q.signature.toString('hex')}"},"akPublic":"${q.akPublic.toString('hex')}","eventLog":"${eventLog}"}`;
  const payload = `{"v":1,"nodeId":"${a.nodeId}","seq":${++a.seq},"nonce":"${nonce}","collectedAt":"${new Date().toISOString()}","inventory":${invJson},"inventoryDigest":"${inv.inventoryDigest}","tpm":${tpm}}`;
  const input = `${a.header}.${Buffer.from(payload).toString('base64url')}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: a.signKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

function connect(a: SimAgent, onMessage: (m: any) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${URL_BASE}/v1/agent`, 'nodeseal.v1', { perMessageDeflate: false });
    a.ws = ws;
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'hello', nodeId: a.nodeId, agentVersion: 'bench', kid: a.id.kid, jwk: a.id.publicJwk }));
      resolve();
    });
    ws.once('error', reject);
    ws.on('message', (d) => onMessage(JSON.parse(d.toString())));
  });
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

if (MODE === 'throughput') {
  const agents = await Promise.all(Array.from({ length: AGENTS }, (_, i) => makeAgent(i, `bench-${process.pid}`)));
  const t0 = performance.now();
  const windowStart = t0 + WARMUP_S * 1000;
  const windowEnd = windowStart + SECONDS * 1000;
  const latencies: number[] = [];
  let verdicts = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  let stop = false;
  let jwsBytes = 0;
  await Promise.all(
    agents.map(async (a) => {
      const sentAt = new Map<number, number>();
      const send = async (nonce: string) => {
        if (stop) return;
        const jws = report(a, nonce);
        jwsBytes = jws.length;
        sentAt.set(a.seq, performance.now());
        a.ws!.send(JSON.stringify({ type: 'report', jws }));
      };
      await connect(a, (m) => {
        if (m.type === 'challenge') void send(m.nonce);
        else if (m.type === 'verdict') {
          const now = performance.now();
          const s = sentAt.get(m.seq);
          sentAt.delete(m.seq);
          if (s !== undefined && s >= windowStart && now <= windowEnd) {
            verdicts++;
            latencies.push(now - s);
          }
        } else if (m.type === 'error') {
          errors++;
          errorCodes[m.code] = (errorCodes[m.code] ?? 0) + 1;
        }
      });
    }),
  );
  // Window marks: the parent samples the collector's CPU time between them (CPU ms per report).
  setTimeout(() => process.stdout.write('{"mode":"window","phase":"start"}\n'), Math.max(0, windowStart - performance.now()));
  setTimeout(() => process.stdout.write('{"mode":"window","phase":"end"}\n'), Math.max(0, windowEnd - performance.now()));
  await new Promise((r) => setTimeout(r, Math.max(0, windowEnd - performance.now()) + 200));
  stop = true;
  for (const a of agents) a.ws?.terminate();
  latencies.sort((x, y) => x - y);
  process.stdout.write(
    `${JSON.stringify({
      mode: 'throughput',
      agents: AGENTS,
      seconds: SECONDS,
      verdicts,
      perSec: verdicts / SECONDS,
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      errors,
      errorCodes,
      jwsBytes,
    })}\n`,
  );
  process.exit(0);
} else {
  // Distinct node ids per run; keys are made up front so connection setup measures the collector.
  const agents: SimAgent[] = [];
  for (let i = 0; i < CONNECTIONS; i++) agents.push(await makeAgent(i, `conn-${process.pid}`));
  let challenged = 0;
  let failed = 0;
  const t0 = performance.now();
  const BATCH = 200;
  for (let i = 0; i < agents.length; i += BATCH) {
    await Promise.all(
      agents.slice(i, i + BATCH).map((a) =>
        connect(a, (m) => {
          if (m.type === 'challenge') challenged++;
        }).catch(() => failed++),
      ),
    );
  }
  const deadline = Date.now() + 120_000;
  while (challenged < agents.length - failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const open = agents.filter((a) => a.ws?.readyState === WebSocket.OPEN).length;
  process.stdout.write(
    `${JSON.stringify({
      mode: 'connections',
      requested: CONNECTIONS,
      held: open,
      challenged,
      failed,
      setupSec: (performance.now() - t0) / 1000,
    })}\n`,
  );
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
}
