import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollectorConfig } from '../../../collector/src/config.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import { generateIdentity } from '../../../shared/src/jws/index.js';
import type { Principal } from '../../../collector/src/http/router.js';

const silent = pino({ level: 'silent' });

function openWs(
  url: string,
  opts: WebSocket.ClientOptions = {},
  protocol: string | string[] = 'nodeseal.v1',
): Promise<{ ws: WebSocket; messages: any[]; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol, opts);
    const messages: any[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
    );
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('unexpected-response', (_q, res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body || '{}') })),
      );
    });
    ws.once('error', reject);
  });
}

describe('collector app: upgrade checks, hello, heartbeat, HTTP errors, auth port', () => {
  let dir: string;
  let c: RunningCollector;
  const principals: Record<string, Principal> = {
    'Bearer view': { name: 'v', role: 'viewer' },
    'Bearer op': { name: 'ops-alice', role: 'operator' },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-app-'));
    const config = {
      ...loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db: join(dir, 'c.db'), heartbeat: '0.3' } }),
      helloTimeoutMs: 300,
      maxConnections: 3,
      maxBodyBytes: 2048,
    };
    c = await startCollector(config, {
      logger: silent,
      auth: { authenticate: (req) => principals[String(req.headers.authorization)] ?? null },
    });
  });
  afterAll(async () => {
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses bad upgrades with coded HTTP errors before the handshake', async () => {
    await expect(openWs(`${c.wsUrl}/v1/nope`)).rejects.toMatchObject({ status: 404, body: { error: { code: 'ERR_WS_PATH' } } });
    await expect(openWs(`${c.wsUrl}/v1/agent`, {}, 'chat')).rejects.toMatchObject({
      status: 400,
      body: { error: { code: 'ERR_WS_SUBPROTOCOL' } },
    });
    await expect(openWs(`${c.wsUrl}/v1/agent`, { origin: 'https://evil.example' })).rejects.toMatchObject({
      status: 403,
      body: { error: { code: 'ERR_WS_ORIGIN' } },
    });
  });

  it('closes a connection that sends no hello (ERR_HELLO_TIMEOUT, 1008)', async () => {
    const { closed, messages } = await openWs(`${c.wsUrl}/v1/agent`);
    expect(await closed).toEqual({ code: 1008, reason: 'ERR_HELLO_TIMEOUT' });
    expect(messages[0]).toMatchObject({ type: 'error', code: 'ERR_HELLO_TIMEOUT' });
  });

  it('requires the public key at first contact, matching its kid', async () => {
    const id = await generateIdentity();
    const other = await generateIdentity();
    const a = await openWs(`${c.wsUrl}/v1/agent`);
    a.ws.send(JSON.stringify({ type: 'hello', nodeId: 'fresh-1', agentVersion: '1', kid: id.kid }));
    expect((await a.closed).reason).toBe('ERR_HELLO_KEY');
    const b = await openWs(`${c.wsUrl}/v1/agent`);
    b.ws.send(JSON.stringify({ type: 'hello', nodeId: 'fresh-1', agentVersion: '1', kid: id.kid, jwk: other.publicJwk }));
    expect((await b.closed).reason).toBe('ERR_HELLO_KEY');
    const d = await openWs(`${c.wsUrl}/v1/agent`);
    d.ws.send(JSON.stringify({ type: 'hello', nodeId: 'fresh-1', agentVersion: '1', kid: id.kid, jwk: { ...id.publicJwk, d: 'secret' } }));
    expect((await d.closed).reason).toBe('ERR_JWS_KEY');
  });

  it('drops a connection that stops answering pings within two heartbeats', async () => {
    const id = await generateIdentity();
    const a = await openWs(`${c.wsUrl}/v1/agent`, { autoPong: false });
    a.ws.send(JSON.stringify({ type: 'hello', nodeId: 'quiet-1', agentVersion: '1', kid: id.kid, jwk: id.publicJwk }));
    const closed = await a.closed;
    expect(closed.code).toBe(1006);
    expect(a.messages[0]).toMatchObject({ type: 'challenge', intervalSec: 60 });
  });

  it('refuses connections beyond the configured capacity (ERR_WS_CAPACITY)', async () => {
    const open = await Promise.all([0, 1, 2].map(() => openWs(`${c.wsUrl}/v1/agent`)));
    await expect(openWs(`${c.wsUrl}/v1/agent`)).rejects.toMatchObject({ status: 503, body: { error: { code: 'ERR_WS_CAPACITY' } } });
    for (const o of open) o.ws.terminate();
  });

  it('answers HTTP mistakes with coded JSON errors', async () => {
    const h = { authorization: 'Bearer op' };
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
    const nf = await fetch(`${c.url}/v1/nothing`, { headers: h });
    expect([nf.status, ((await nf.json()) as any).error.code]).toEqual([404, 'ERR_HTTP_NOT_FOUND']);
    const m = await fetch(`${c.url}/v1/nodes`, { method: 'DELETE', headers: h });
    expect([m.status, ((await m.json()) as any).error.code]).toEqual([405, 'ERR_HTTP_METHOD']);
    const big = await fetch(`${c.url}/v1/nodes/x/approve`, {
      method: 'POST',
      headers: { ...h, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'x'.repeat(5000) }),
    });
    expect([big.status, ((await big.json()) as any).error.code]).toEqual([413, 'ERR_HTTP_BODY_TOO_LARGE']);
    const bad = await fetch(`${c.url}/v1/nodes/x/approve`, {
      method: 'POST',
      headers: { ...h, 'content-type': 'application/json' },
      body: '{nope',
    });
    expect([bad.status, ((await bad.json()) as any).error.code]).toEqual([400, 'ERR_HTTP_BODY']);
    const missing = await fetch(`${c.url}/v1/nodes/missing`, { headers: h });
    expect([missing.status, ((await missing.json()) as any).error.code]).toEqual([404, 'ERR_NODE_NOT_FOUND']);
    const q = await fetch(`${c.url}/v1/nodes?status=great`, { headers: h });
    expect(((await q.json()) as any).error.code).toBe('ERR_NODES_QUERY');
  });

  it('asks the injected auth port who is calling and enforces route roles', async () => {
    expect((await fetch(`${c.url}/v1/nodes`)).status).toBe(401);
    expect((await fetch(`${c.url}/v1/nodes`, { headers: { authorization: 'Bearer view' } })).status).toBe(200);
    const r = await fetch(`${c.url}/v1/nodes/x/approve`, {
      method: 'POST',
      headers: { authorization: 'Bearer view', 'content-type': 'application/json' },
      body: '{"reason":"r"}',
    });
    expect([r.status, ((await r.json()) as any).error.code]).toEqual([403, 'ERR_HTTP_FORBIDDEN']);
  });
});

describe('collector over TLS', () => {
  it('serves https and wss with a configured certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nodeseal-tls-'));
    try {
      const cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]);
      const config = loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db: join(dir, 'c.db'), 'tls-cert': cert, 'tls-key': key } });
      const c = await startCollector(config, { logger: silent });
      try {
        expect(c.url).toMatch(/^https:/);
        const ca = await readFile(cert);
        const status = await new Promise<number>((resolve, reject) =>
          httpsRequest(`${c.url}/healthz`, { ca }, (res) => resolve(res.statusCode!))
            .on('error', reject)
            .end(),
        );
        expect(status).toBe(200);
        const id = await generateIdentity();
        const w = await openWs(`${c.wsUrl}/v1/agent`, { ca });
        w.ws.send(JSON.stringify({ type: 'hello', nodeId: 'tls-1', agentVersion: '1', kid: id.kid, jwk: id.publicJwk }));
        await new Promise((r) => setTimeout(r, 300));
        expect(w.messages[0]).toMatchObject({ type: 'challenge' });
        w.ws.terminate();
        await expect(openWs(`${c.wsUrl}/v1/agent`)).rejects.toThrow();
      } finally {
        await c.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('collector start failures are one coded line, and leave nothing running', () => {
  it('reports a busy --listen address as ERR_LISTEN and closes its store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nodeseal-listen-'));
    const first = await startCollector(loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db: join(dir, 'a.db') } }), {
      logger: silent,
    });
    try {
      const config = loadCollectorConfig({ flags: { listen: `127.0.0.1:${first.port}`, db: join(dir, 'b.db') } });
      await expect(startCollector(config, { logger: silent })).rejects.toMatchObject({
        code: 'ERR_LISTEN',
        message: expect.stringContaining('already in use'),
      });
      // The failed start closed what it opened: the same database starts cleanly on a free port.
      const again = await startCollector(loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db: join(dir, 'b.db') } }), {
        logger: silent,
      });
      await again.close();
    } finally {
      await first.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing or unusable --tls-cert/--tls-key as ERR_CONFIG before opening anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nodeseal-tlsbad-'));
    try {
      const flags = {
        listen: '127.0.0.1:0',
        db: join(dir, 'c.db'),
        'tls-cert': join(dir, 'missing.pem'),
        'tls-key': join(dir, 'missing.key'),
      };
      await expect(startCollector(loadCollectorConfig({ flags }), { logger: silent })).rejects.toMatchObject({
        code: 'ERR_CONFIG',
        message: expect.stringContaining('cannot read --tls-cert'),
      });
      const garbage = join(dir, 'garbage.pem');
      await writeFile(garbage, 'not a certificate\n');
      await expect(
        startCollector(loadCollectorConfig({ flags: { ...flags, 'tls-cert': garbage, 'tls-key': garbage } }), { logger: silent }),
      ).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringContaining('not a usable PEM') });
      await expect(readFile(join(dir, 'c.db'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
