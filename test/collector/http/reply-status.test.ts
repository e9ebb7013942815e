import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollectorConfig } from '../../../collector/src/config.js';
import { reply, type Route } from '../../../collector/src/http/router.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import {
  api,
  INTERVAL_SEC,
  removeDir,
  silent,
  softTpmSource,
  startTestAgent,
  tempDir,
  waitFor,
  type TestAgent,
} from '../../e2e/harness.js';
import { copyHost, removeHost } from '../../helpers/hosts.js';

/**
 * The router sends the status a handler asks for with `reply(status, body)`, and 200 for a plain
 * value (even one with a `status` field, as verdicts have). POST /v1/nodes/:id/attest answers 202
 * when it only sent the challenge and 200 with the verdict when it waited for one.
 */
const routes: Route[] = [
  { method: 'POST', path: '/v1/test/accepted', role: 'viewer', handler: () => reply(202, { queued: true }) },
  { method: 'GET', path: '/v1/test/verdict-like', role: 'viewer', handler: () => ({ status: 'untrusted', reasons: [] }) },
  { method: 'GET', path: '/v1/test/bad-reply', role: 'viewer', handler: () => reply(404, {}) },
];

let dir: string;
let root: string;
let collector: RunningCollector;
let agent: TestAgent | undefined;

beforeAll(async () => {
  dir = await tempDir('reply-status');
  root = await copyHost('gpu8');
  const config = loadCollectorConfig({
    flags: { listen: '127.0.0.1:0', db: join(dir, 'c.db'), interval: String(INTERVAL_SEC), heartbeat: '1' },
  });
  collector = await startCollector(config, { logger: silent, routes: [routes] });
});

afterAll(async () => {
  await agent?.stop();
  await collector?.close();
  await removeHost(root);
  await removeDir(dir);
});

describe('handler status', () => {
  it('reply(202, body) is sent as 202 with the body; a plain value with a status field stays 200', async () => {
    const a = await api(collector.url, 'POST', '/v1/test/accepted');
    expect(a).toEqual({ status: 202, json: { queued: true } });
    const v = await api(collector.url, 'GET', '/v1/test/verdict-like');
    expect(v).toEqual({ status: 200, json: { status: 'untrusted', reasons: [] } });
  });

  it('reply refuses a non-2xx status (errors are thrown as HttpError)', async () => {
    expect(() => reply(404, {})).toThrow(RangeError);
    const r = await api(collector.url, 'GET', '/v1/test/bad-reply');
    expect(r.status).toBe(500);
    expect(r.json.error.code).toBe('ERR_INTERNAL');
  });

  it('POST /v1/nodes/:id/attest: 202 when it only sent the challenge, 200 with the verdict when it waited', async () => {
    agent = await startTestAgent({ collector: collector.wsUrl, nodeId: 'node-s', evidence: softTpmSource(root) });
    await waitFor('node-s verified', async () => (await api(collector.url, 'GET', '/v1/nodes/node-s')).json.verifiedAt);
    const sent = await api(collector.url, 'POST', '/v1/nodes/node-s/attest');
    expect(sent).toEqual({ status: 202, json: { nodeId: 'node-s', challenged: true } });
    const zero = await api(collector.url, 'POST', '/v1/nodes/node-s/attest?wait=0');
    expect(zero.status).toBe(202);
    const waited = await api(collector.url, 'POST', '/v1/nodes/node-s/attest?wait=10');
    expect(waited.status).toBe(200);
    expect(waited.json).toMatchObject({ nodeId: 'node-s', status: 'trusted' });
    expect(typeof waited.json.seq).toBe('number');
  });
});
