import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCollectorConfig } from '../../../collector/src/config.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { type RunningCollector, startCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';

/** Sends raw bytes and reads until the server closes the connection (or a deadline). */
function rawExchange(port: number, request: string, timeoutMs = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closed: false });
    }, timeoutMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => {
      // The server may close while we still write the oversized head: keep what arrived.
      if ((e as NodeJS.ErrnoException).code !== 'EPIPE' && (e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closed: true });
    });
    sock.on('connect', () => sock.write(request));
  });
}

/**
 * Issue 12: a request whose headers exceed the limit used to get a dropped connection. A real
 * collector (maxHeaderBytes 4 KiB here) answers 431 with a JSON error body and closes; a
 * request under the limit on the same server is served as before.
 */
describe('oversized request headers (raw socket, real collector)', () => {
  let dir: string;
  let collector: RunningCollector;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-431-'));
    const store = await openSqliteStore(join(dir, 'collector.db'));
    collector = await startCollector(
      { ...defaultCollectorConfig(), listen: { host: '127.0.0.1', port: 0 }, maxHeaderBytes: 4096 },
      { logger: silentLogger(), store },
    );
  });
  afterAll(async () => {
    await collector?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 431 with ERR_HTTP_HEADERS_TOO_LARGE and closes the connection', async () => {
    const big = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(8000)}\r\n\r\n`;
    const { text, closed } = await rawExchange(collector.port, big);
    expect(closed).toBe(true);
    const [head, body] = text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(head).toMatch(/\r\ncontent-type: application\/json/i);
    expect(Buffer.byteLength(body!)).toBe(Number(/content-length: (\d+)/i.exec(head!)![1]));
    expect(JSON.parse(body!)).toMatchObject({ error: { code: 'ERR_HTTP_HEADERS_TOO_LARGE' } });
  });

  it('counts many small headers too, and still serves requests under the limit', async () => {
    const many = Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(40)}\r\n`).join('');
    const over = await rawExchange(collector.port, `GET /healthz HTTP/1.1\r\nHost: x\r\n${many}\r\n`);
    expect(over.text).toMatch(/^HTTP\/1\.1 431 /);
    const ok = await rawExchange(
      collector.port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(2000)}\r\nConnection: close\r\n\r\n`,
    );
    expect(ok.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(ok.text).toContain('"status":"ok"');
  });

  it('closes a malformed request without an answer, as before', async () => {
    const bad = await rawExchange(collector.port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(bad.closed).toBe(true);
    expect(bad.text).toBe('');
  });
});
