import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, clientFrom } from '../../../collector/src/cli/client.js';
import { cannotHaveArrived, splitUrlList } from '../../../shared/src/failover.js';
import { freePort, listenOnLoopback, type LoopbackServer } from '../../helpers/net.js';

/**
 * The operator CLI's client over several collector URLs, against real HTTP servers on loopback:
 * a port nobody listens on, a server that takes requests and never answers, and one that answers.
 */
describe('ApiClient failover', () => {
  let hang: LoopbackServer;
  let live: LoopbackServer;
  let dead: string;
  const got: string[] = [];

  beforeAll(async () => {
    hang = await listenOnLoopback(createServer((req) => got.push(`hang ${req.method} ${req.url}`)));
    live = await listenOnLoopback(
      createServer((req, res) => {
        got.push(`live ${req.method} ${req.url}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }) as Server,
    );
    dead = `http://127.0.0.1:${await freePort()}`;
  });
  afterAll(async () => {
    await hang?.close();
    await live?.close();
  });

  it('moves past a refused connection for GET and POST, and sticks to the collector that answered', async () => {
    got.length = 0;
    const c = new ApiClient([new URL(dead), new URL(live.url)], null, 2000);
    expect(await c.post('/v1/nodes/n1/attest', {})).toEqual({ ok: true });
    expect(c.base.href).toBe(`${live.url}/`);
    expect(await c.get('/v1/nodes')).toEqual({ ok: true });
    expect(got).toEqual(['live POST /v1/nodes/n1/attest', 'live GET /v1/nodes']);
  });

  it('does not repeat a POST elsewhere after a timeout (it may have arrived); a GET moves on', async () => {
    got.length = 0;
    const post = new ApiClient([new URL(hang.url), new URL(live.url)], null, 300);
    await expect(post.post('/v1/nodes/n1/approve', { reason: 'x' })).rejects.toMatchObject({
      code: 'ERR_CLI_UNREACHABLE',
      exit: 3,
      message: expect.stringMatching(/no answer within/),
    });
    expect(got).toEqual(['hang POST /v1/nodes/n1/approve']);
    const get = new ApiClient([new URL(hang.url), new URL(live.url)], null, 300);
    expect(await get.get('/v1/nodes')).toEqual({ ok: true });
    expect(got).toEqual(['hang POST /v1/nodes/n1/approve', 'hang GET /v1/nodes', 'live GET /v1/nodes']);
  });

  it('reads the list from --url (repeated or comma-separated), NODESEAL_URL or the CLI config; names a bad URL', () => {
    expect(clientFrom({ url: [`${dead},${live.url}`, hang.url], token: 't' }, {}).base.href).toBe(`${dead}/`);
    expect(() => clientFrom({ url: `${live.url},ftp://x`, token: 't' }, {})).toThrow(/must be http:\/\/ or https:\/\/: "ftp:\/\/x"/);
    expect(splitUrlList([' a ,b', 'a', ''])).toEqual(['a', 'b']);
  });

  it('tells a request that cannot have arrived from one that may have', () => {
    expect(cannotHaveArrived(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }))).toBe(true);
    expect(cannotHaveArrived({ cause: new AggregateError([{ code: 'ECONNREFUSED' }, { code: 'EHOSTUNREACH' }]) })).toBe(true);
    expect(cannotHaveArrived({ cause: new AggregateError([{ code: 'ECONNREFUSED' }, { code: 'ETIMEDOUT' }]) })).toBe(false);
    expect(cannotHaveArrived({ cause: { code: 'ECONNRESET' } })).toBe(false);
    expect(cannotHaveArrived(Object.assign(new Error('timeout'), { name: 'TimeoutError' }))).toBe(false);
  });
});
