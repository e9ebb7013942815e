import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentDaemon, type DaemonState } from '../../../agent/src/daemon/daemon.js';
import type { EvidenceSource } from '../../../agent/src/daemon/evidence.js';
import { importPublicJwk, verifyCompact } from '../../../shared/src/jws/index.js';
import { parseReportPayload } from '../../../shared/src/report/schema.js';

/** A hand-written fake collector: speaks the protocol, records what the agent sends. */
class FakeCollector {
  readonly server: Server;
  readonly wss: WebSocketServer;
  readonly hellos: any[] = [];
  readonly reports: Array<{ payload: any; header: any; ws: WebSocket }> = [];
  sockets: WebSocket[] = [];
  answer: 'verdict' | 'none' | ((p: any, ws: WebSocket) => void) = 'verdict';
  port = 0;
  private jwk: any = null;

  constructor(autoPong = true) {
    this.server = createServer();
    this.wss = new WebSocketServer({
      server: this.server,
      path: '/v1/agent',
      autoPong,
      handleProtocols: (p) => (p.has('nodeseal.v1') ? 'nodeseal.v1' : false),
    });
    this.wss.on('connection', (ws) => {
      this.sockets.push(ws);
      ws.on('message', async (d) => {
        const m = JSON.parse(d.toString());
        if (m.type === 'hello') {
          this.hellos.push(m);
          this.jwk = m.jwk;
          return;
        }
        const { key, alg } = importPublicJwk(this.jwk);
        const { payload, header } = await verifyCompact(m.jws, key, { typ: 'nodeseal-report+jws', kid: this.hellos.at(-1).kid, alg });
        const p = parseReportPayload(JSON.parse(Buffer.from(payload).toString()));
        this.reports.push({ payload: p, header, ws });
        if (this.answer === 'verdict')
          ws.send(JSON.stringify(p.nonce ? { type: 'verdict', seq: p.seq, status: 'trusted', reasons: [] } : { type: 'ack', seq: p.seq }));
        else if (typeof this.answer === 'function') this.answer(p, ws);
      });
    });
  }
  async listen(port = 0) {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }
  challenge(nonce: string, intervalSec: number, next = false) {
    for (const s of this.sockets)
      if (s.readyState === 1) s.send(JSON.stringify({ type: 'challenge', nonce, intervalSec, ...(next ? { next: true } : {}) }));
  }
  async close() {
    for (const s of this.sockets) s.terminate();
    this.wss.close();
    await new Promise((r) => this.server.close(r));
  }
}

const N = (c: string) => c.repeat(64);
const silent = pino({ level: 'silent' });
const evidence: EvidenceSource = {
  async collect() {
    return {
      inventory: {
        platform: null,
        cpu: null,
        kernel: null,
        secureBoot: null,
        gpus: [],
        nvswitches: [],
        nics: [],
        hcas: [],
        disks: [],
        pci: [],
        sources: {},
      },
      inventoryDigest: `sha256:${'0'.repeat(64)}`,
      tpm: { status: 'unavailable', reason: 'none here', code: 'ERR_AGENT_TPM_DISABLED' },
    };
  },
};

async function until<T>(fn: () => T, ms = 5000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('agent daemon against a fake collector', () => {
  let dir: string;
  let fake: FakeCollector;
  let daemon: AgentDaemon | null = null;
  const states: DaemonState[] = [];

  const start = async (over: Partial<ConstructorParameters<typeof AgentDaemon>[0]> = {}) => {
    daemon = new AgentDaemon({
      collector: `ws://127.0.0.1:${fake.port}`,
      nodeId: 'n1',
      stateDir: dir,
      evidence,
      logger: silent,
      intervalSec: 60,
      heartbeatSec: 0.2,
      backoffBaseMs: 50,
      backoffCapMs: 200,
      spoolPaceMs: 10,
      ...over,
    });
    daemon.on('state', (s) => states.push(s));
    await daemon.start();
    return daemon;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-daemon-'));
    states.length = 0;
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = null;
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('says hello with its key, answers a challenge at once with a signed report bound to the nonce', async () => {
    fake = await new FakeCollector().listen();
    const d = await start();
    await until(() => fake.hellos.length === 1);
    expect(fake.hellos[0]).toMatchObject({ type: 'hello', nodeId: 'n1', kid: d.kid, jwk: { kty: 'EC', crv: 'P-256' } });
    expect(fake.hellos[0].jwk.d).toBeUndefined();
    fake.challenge(N('a'), 60);
    await until(() => fake.reports.length === 1);
    expect(fake.reports[0]!.header).toEqual({ alg: 'ES256', kid: d.kid, typ: 'nodeseal-report+jws' });
    expect(fake.reports[0]!.payload).toMatchObject({ v: 1, nodeId: 'n1', seq: 1, nonce: N('a'), tpm: { status: 'unavailable' } });
    await until(() => d.spooled === 0);
    // A challenge at any time is answered at once.
    fake.challenge(N('b'), 60);
    await until(() => fake.reports.length === 2);
    expect(fake.reports[1]!.payload).toMatchObject({ seq: 2, nonce: N('b') });
  });

  it("keeps a `next` nonce for its next scheduled report, on the collector's interval", async () => {
    fake = await new FakeCollector().listen();
    await start();
    await until(() => fake.hellos.length === 1);
    fake.challenge(N('c'), 0.3, true);
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.reports.length).toBe(0);
    await until(() => fake.reports.length >= 1);
    expect(fake.reports[0]!.payload.nonce).toBe(N('c'));
    // Without a new nonce the following interval reports still come, with nonce null.
    await until(() => fake.reports.length >= 2);
    expect(fake.reports[1]!.payload.nonce).toBeNull();
  });

  it('keeps unacknowledged reports spooled and re-sends them in order after reconnecting', async () => {
    fake = await new FakeCollector().listen();
    fake.answer = 'none';
    const d = await start();
    await until(() => fake.hellos.length === 1);
    fake.challenge(N('d'), 60);
    await until(() => fake.reports.length === 1);
    expect(d.spooled).toBe(1);
    const port = fake.port;
    await fake.close();
    fake = await new FakeCollector().listen(port);
    await until(() => fake.hellos.length === 1);
    fake.challenge(N('e'), 60);
    await until(() => fake.reports.length === 2);
    expect(fake.reports.map((r) => r.payload.seq)).toEqual([1, 2]);
    await until(() => d.spooled === 0);
  });

  it('drops a report the collector rejects for good; keeps one refused for a retryable reason', async () => {
    fake = await new FakeCollector().listen();
    fake.answer = (p, ws) =>
      ws.send(JSON.stringify({ type: 'error', code: p.seq === 1 ? 'ERR_REPORT_SEQ' : 'ERR_INTERNAL', message: 'no', seq: p.seq }));
    const d = await start();
    await until(() => fake.hellos.length === 1);
    fake.challenge(N('f'), 60);
    await until(() => fake.reports.length === 1);
    await until(() => d.spooled === 0);
    fake.challenge(N('9'), 60);
    await until(() => fake.reports.length >= 2);
    // ERR_INTERNAL: kept, and the agent reconnects to try again later (the same report, again).
    await until(() => fake.hellos.length >= 2);
    expect(d.spooled).toBe(1);
    expect(new Set(fake.reports.slice(1).map((r) => r.payload.seq))).toEqual(new Set([2]));
  });

  it('notices a dead connection (no pong) and reconnects with backoff', async () => {
    fake = await new FakeCollector(false).listen();
    await start();
    await until(() => fake.hellos.length >= 2, 5000);
    expect(states.some((s) => s.name === 'backoff')).toBe(true);
  });

  it('backs off with growing attempts while the collector is down, and makes offline reports with nonce null', async () => {
    fake = await new FakeCollector().listen();
    const port = fake.port;
    await fake.close();
    const d = await start({ intervalSec: 0.2 });
    await until(() => states.filter((s) => s.name === 'backoff').length >= 3);
    const attempts = states.filter((s): s is Extract<DaemonState, { name: 'backoff' }> => s.name === 'backoff').map((s) => s.attempt);
    expect(attempts[2]).toBeGreaterThan(attempts[0]!);
    expect(states.find((s) => s.name === 'backoff')).toMatchObject({ error: { code: 'ERR_AGENT_CONNECT' } });
    await until(() => d.spooled >= 2);
    fake = await new FakeCollector().listen(port);
    await until(() => fake.reports.length >= 2);
    expect(fake.reports[0]!.payload.nonce).toBeNull();
    expect(fake.reports[0]!.payload.seq).toBe(1);
  });

  it('with several collectors: skips a dead one, sticks to the one that answers, and moves on when it is sent away', async () => {
    fake = await new FakeCollector().listen();
    const dead = await new FakeCollector().listen();
    const deadUrl = `ws://127.0.0.1:${dead.port}`;
    await dead.close();
    const d = await start({ collector: [deadUrl, `ws://127.0.0.1:${fake.port}`] });
    await until(() => fake.hellos.length === 1);
    expect(states.find((s) => s.name === 'backoff')).toMatchObject({
      error: { code: 'ERR_AGENT_CONNECT' },
      url: `ws://127.0.0.1:${fake.port}`,
    });
    await until(() => d.state.name === 'attesting');
    expect(d.collectorUrl).toBe(`ws://127.0.0.1:${fake.port}`);
    fake.challenge(N('1'), 60);
    await until(() => d.spooled === 0 && fake.reports.length === 1);
    // A collector shutting down closes with ERR_WS_SHUTDOWN: a `move` code, so the next URL (the dead one) is tried.
    states.length = 0;
    for (const s of fake.sockets) s.close(1001, 'ERR_WS_SHUTDOWN');
    await until(() => states.some((s) => s.name === 'backoff'));
    expect(states.find((s) => s.name === 'backoff')).toMatchObject({ url: deadUrl, error: { code: 'ERR_WS_SHUTDOWN' } });
    // ... which refuses the connection, so the agent comes back to the live one; seq carries on.
    await until(() => fake.hellos.length === 2);
    fake.challenge(N('2'), 60);
    await until(() => fake.reports.length === 2);
    expect(fake.reports[1]!.payload.seq).toBe(2);
  });

  it('reads the code of a refused upgrade: a full collector (503 ERR_WS_CAPACITY) is left for the next', async () => {
    const full = createServer((_req, res) => {
      res
        .writeHead(503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'ERR_WS_CAPACITY', message: 'full' } }));
    });
    full.on('upgrade', (_req, socket) => {
      const body = JSON.stringify({ error: { code: 'ERR_WS_CAPACITY', message: 'full' } });
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    });
    await new Promise<void>((r) => full.listen(0, '127.0.0.1', r));
    fake = await new FakeCollector().listen();
    try {
      await start({ collector: [`ws://127.0.0.1:${(full.address() as { port: number }).port}`, `ws://127.0.0.1:${fake.port}`] });
      await until(() => fake.hellos.length === 1);
      expect(states.find((s) => s.name === 'backoff')).toMatchObject({ error: { code: 'ERR_WS_CAPACITY' } });
    } finally {
      await new Promise((r) => full.close(r));
    }
  });

  it('refused: a revoked node waits with growth and is not reset by the socket opening', async () => {
    fake = await new FakeCollector().listen();
    fake.wss.on('connection', (ws) => {
      ws.send(JSON.stringify({ type: 'error', code: 'ERR_NODE_REVOKED', message: 'this node has been revoked' }));
      ws.close(1008, 'ERR_NODE_REVOKED');
    });
    await start({ refusedBaseMs: 40, refusedCapMs: 160 });
    await until(() => states.filter((s) => s.name === 'refused').length >= 4, 5000);
    const refused = states.filter((s): s is Extract<DaemonState, { name: 'refused' }> => s.name === 'refused');
    expect(refused.map((s) => s.attempt).slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(refused.map((s) => s.code)).toEqual(refused.map(() => 'ERR_NODE_REVOKED'));
    for (const [i, s] of refused.slice(0, 4).entries()) expect(s.delayMs).toBeGreaterThanOrEqual(Math.min(160, 40 * 2 ** i) / 2);
  });
});
