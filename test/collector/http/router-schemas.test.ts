import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AuthStore, authRoutes, createApiToken, createAuthenticator } from '../../../collector/src/auth/index.js';
import { EnrollStore } from '../../../collector/src/enroll/index.js';
import { defaultCollectorConfig } from '../../../collector/src/config.js';
import { hostlistString, intString } from '../../../collector/src/http/input.js';
import { route } from '../../../collector/src/http/router.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { type RunningCollector, startCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';

const json = async (r: Response) => ({
  status: r.status,
  body: (await r.json()) as { error?: { code: string; message: string } } & Record<string, unknown>,
});

/**
 * Schema routes through the collector's own request path (real collector, real tokens): typed
 * input reaches the handler, unknown fields and parameters are refused with the route's code or
 * the part's default (ERR_HTTP_QUERY / ERR_HTTP_BODY), a refinement can name its own code.
 */
describe('schema routes (real collector)', () => {
  let dir: string;
  let collector: RunningCollector;
  let op: string;
  const seen: unknown[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-router-'));
    const store = await openSqliteStore(join(dir, 'collector.db'));
    const authStore = new AuthStore(store.db);
    op = (await createApiToken(authStore, { name: 'alice', role: 'operator', actor: 'cli:root', reason: 'test', now: new Date() })).token;
    const probe = route({
      method: 'POST',
      path: '/v1/test/probe/:n',
      role: 'operator',
      params: z.strictObject({ n: intString('n', 1, 9) }),
      query: z.strictObject({ nodes: hostlistString({ maxHosts: 10 }).optional(), limit: intString('limit', 1, 100).default(5) }),
      body: z.strictObject({ reason: z.string().min(1), count: z.number().int().optional() }),
      handler: ({ params, query, body }) => {
        seen.push({ params, query, body });
        return { n: params.n, nodes: query.nodes ?? null, limit: query.limit, reason: body.reason };
      },
    });
    collector = await startCollector(
      { ...defaultCollectorConfig(), listen: { host: '127.0.0.1', port: 0 } },
      {
        logger: silentLogger(),
        store,
        auth: createAuthenticator({ store: authStore }),
        routes: [[probe], authRoutes({ auth: authStore, enroll: new EnrollStore(store.db) })],
      },
    );
  });
  afterAll(async () => {
    await collector?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${collector.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${op}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    }).then(json);

  it('hands the handler parsed, typed input (numbers, expanded hostlists, defaults)', async () => {
    const r = await call('POST', '/v1/test/probe/3?nodes=gpu%5B1-2%5D&nodes=login1', { reason: 'why' });
    expect(r).toEqual({ status: 200, body: { n: 3, nodes: ['gpu1', 'gpu2', 'login1'], limit: 5, reason: 'why' } });
    expect(seen.at(-1)).toEqual({ params: { n: 3 }, query: { nodes: ['gpu1', 'gpu2', 'login1'], limit: 5 }, body: { reason: 'why' } });
  });

  it.each([
    ['unknown query parameter', '/v1/test/probe/3?limit=5&color=red', { reason: 'x' }, 'ERR_HTTP_QUERY', /unknown parameter color/],
    ['repeated single-valued parameter', '/v1/test/probe/3?limit=5&limit=6', { reason: 'x' }, 'ERR_HTTP_QUERY', /limit/],
    ['malformed number', '/v1/test/probe/3?limit=1e2', { reason: 'x' }, 'ERR_HTTP_QUERY', /limit must be an integer from 1 to 100/],
    ['hostlist error keeps its code', '/v1/test/probe/3?nodes=gpu%5B1-', { reason: 'x' }, 'ERR_HOSTLIST_SYNTAX', /./],
    ['hostlist over the route limit', '/v1/test/probe/3?nodes=n%5B1-11%5D', { reason: 'x' }, 'ERR_HOSTLIST_TOO_LARGE', /./],
    ['path parameter out of range', '/v1/test/probe/0', { reason: 'x' }, 'ERR_HTTP_PARAMS', /n must be an integer/],
    ['unknown body field', '/v1/test/probe/3', { reason: 'x', admin: true }, 'ERR_HTTP_BODY', /unknown field admin/],
    ['wrong body field type', '/v1/test/probe/3', { reason: 'x', count: 'many' }, 'ERR_HTTP_BODY', /count/],
    ['missing body', '/v1/test/probe/3', undefined, 'ERR_HTTP_BODY', /request body/],
  ])('%s → 400 %s', async (_name, path, body, code, message) => {
    const before = seen.length;
    const r = await call('POST', path, body);
    expect(r.status).toBe(400);
    expect(r.body.error!.code).toBe(code);
    expect(r.body.error!.message).toMatch(message);
    expect(seen.length).toBe(before);
  });

  it('converted routes keep their own codes and refuse what they do not know', async () => {
    expect((await call('GET', '/v1/nodes?status=trusted&colour=red')).body.error!.code).toBe('ERR_NODES_QUERY');
    expect((await call('GET', '/v1/nodes?limit=0')).body.error!.code).toBe('ERR_NODES_QUERY');
    expect((await call('GET', '/v1/nodes?limit=10&offset=0&search=')).status).toBe(200);
    expect((await call('POST', '/v1/nodes/x/approve', { reason: 'ok', approvedBy: 'me' })).body.error!.code).toBe('ERR_APPROVE_REASON');
    expect((await call('POST', '/v1/nodes/x/approve', { reason: 'ok', pcrDigest: 'sha256:zz' })).body.error!.code).toBe(
      'ERR_APPROVE_REASON',
    );
    expect((await call('GET', '/v1/trust?nodes=a&verbose=1')).body.error!.code).toBe('ERR_TRUST_QUERY');
    expect((await call('GET', '/v1/dashboard/fleet?limit=501')).body.error!.code).toBe('ERR_DASHBOARD_QUERY');
    expect((await call('GET', '/v1/dashboard/fleet?status=&search=')).status).toBe(200);
    expect((await call('POST', '/v1/tokens', { name: 'x', role: 'viewer', admin: true })).body.error!.code).toBe('ERR_AUTH_TOKEN_INPUT');
    expect((await call('GET', '/v1/audit?limit=ten')).body.error!.code).toBe('ERR_AUTH_TOKEN_INPUT');
    expect((await call('GET', '/v1/receipt')).body.error!.code).toBe('ERR_RECEIPT_QUERY');
    // The health probe ignores cache busters.
    expect((await call('GET', '/healthz?ts=1')).status).toBe(200);
  });
});
