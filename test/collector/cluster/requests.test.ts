import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  ERR_CLUSTER_HANDLER_FAILED,
  ERR_CLUSTER_HOLDER_GONE,
  ERR_CLUSTER_REQUEST_KIND,
  ERR_CLUSTER_REQUEST_TIMEOUT,
  decodeError,
  encodeError,
  startMembership,
  startRequestBus,
} from '../../../collector/src/cluster/index.js';
import type { Membership, RequestBus } from '../../../collector/src/cluster/index.js';
import { HttpError } from '../../../collector/src/http/router.js';
import { pgAdmin, pgSchemas, pgUrl, terminateBackend } from '../../helpers/postgres.js';
import { waitUntil } from '../../helpers/wait.js';

const logger = pino({ level: 'silent' });
const pg = pgSchemas('nodeseal_requests');
const schema = pg.schema('r');
const open: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const o of open.reverse()) await o.close().catch(() => undefined);
  await pg.dropAll();
});

const rows = async (): Promise<number> =>
  Number((await pgAdmin<{ n: string }>(`SELECT COUNT(*) AS n FROM ${schema}.cluster_requests`))[0]!.n);

describe('error crossing (pure)', () => {
  it('keeps status, code, message and details of an HttpError', () => {
    const e = decodeError(JSON.stringify(encodeError(new HttpError(409, 'ERR_NODE_REVOKED', 'revoked', { nodeId: 'n1' }))));
    expect(e).toBeInstanceOf(HttpError);
    expect([e.status, e.code, e.message, e.details]).toEqual([409, 'ERR_NODE_REVOKED', 'revoked', { nodeId: 'n1' }]);
    expect(encodeError(new Error('boom'))).toEqual({ status: 500, code: ERR_CLUSTER_HANDLER_FAILED, message: 'boom' });
    expect(() => decodeError('{"status":200,"code":"x","message":""}')).toThrow(
      expect.objectContaining({ code: 'ERR_CLUSTER_ROW_SCHEMA' }),
    );
  });
});

describe('request bus on PostgreSQL', () => {
  let mA: Membership;
  let mB: Membership;
  let busA: RequestBus;
  let busB: RequestBus;
  beforeAll(async () => {
    await (await pg.openStore(schema)).close();
    mA = await startMembership({ url: pgUrl, schema, collectorId: 'A', heartbeatMs: 100, deadAfterMs: 600 });
    mB = await startMembership({ url: pgUrl, schema, collectorId: 'B', heartbeatMs: 100, deadAfterMs: 600 });
    busA = await startRequestBus({ url: pgUrl, schema, collectorId: 'A', logger, isAlive: (id) => mA.isAlive(id), pollMs: 200 });
    busB = await startRequestBus({ url: pgUrl, schema, collectorId: 'B', logger, isAlive: (id) => mB.isAlive(id), pollMs: 200 });
    open.push(mA, mB, busA, busB);
    busB.handle('echo', async (body, meta) => ({ got: body, from: meta.requester }));
    busB.handle('revoked', async () => {
      throw new HttpError(409, 'ERR_TEST_REVOKED', 'node is revoked', { nodeId: 'n1' });
    });
    busB.handle('crash', async () => {
      throw new TypeError('handler bug');
    });
    busB.handle('never', () => new Promise(() => undefined));
  });

  it('round-trips a request to the other collector and deletes its row', async () => {
    expect(await busA.request('B', 'echo', { nodeId: 'n1', n: 2 }, 5_000)).toEqual({ got: { nodeId: 'n1', n: 2 }, from: 'A' });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => busA.request('B', 'echo', i, 5_000)));
    expect(answers.map((x) => (x as { got: number }).got)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await waitUntil('rows deleted', async () => (await rows()) === 0);
    expect(busA.pendingCount()).toBe(0);
  });

  it('rethrows the handler’s HTTP error on the requester as the same HttpError', async () => {
    const e = await busA.request('B', 'revoked', null, 5_000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HttpError);
    expect(e).toMatchObject({ status: 409, code: 'ERR_TEST_REVOKED', message: 'node is revoked', details: { nodeId: 'n1' } });
    await expect(busA.request('B', 'crash', null, 5_000)).rejects.toMatchObject({ status: 500, code: ERR_CLUSTER_HANDLER_FAILED });
    await expect(busA.request('B', 'unknown-kind', null, 5_000)).rejects.toMatchObject({ status: 501, code: ERR_CLUSTER_REQUEST_KIND });
  });

  it('times out with 504 ERR_CLUSTER_REQUEST_TIMEOUT and deletes the row', async () => {
    await expect(busA.request('B', 'never', null, 300)).rejects.toMatchObject({ status: 504, code: ERR_CLUSTER_REQUEST_TIMEOUT });
    await waitUntil('timed-out row deleted', async () => (await rows()) === 0);
  });

  it('picks up a request whose NOTIFY it missed (listener terminated) on its next poll', async () => {
    const pid = busB.listenerPid()!;
    expect(await terminateBackend(pid)).toBe(true);
    expect(await busA.request('B', 'echo', 'after-kill', 5_000)).toEqual({ got: 'after-kill', from: 'A' });
    await waitUntil('B listening again', () => busB.listenerPid() !== null && busB.listenerPid() !== pid);
  });

  it('refuses a dead target with 503 ERR_CLUSTER_HOLDER_GONE, also while waiting', async () => {
    await expect(busA.request('Z', 'echo', null, 5_000)).rejects.toMatchObject({ status: 503, code: ERR_CLUSTER_HOLDER_GONE });
    // C registers, then stops heartbeating without leaving (as a crash): the wait ends when it is judged dead.
    const mC = await startMembership({ url: pgUrl, schema, collectorId: 'C', heartbeatMs: 100, deadAfterMs: 600 });
    const pending = busA.request('C', 'echo', null, 20_000);
    await mC.close({ leave: false });
    const t0 = Date.now();
    await expect(pending).rejects.toMatchObject({ status: 503, code: ERR_CLUSTER_HOLDER_GONE });
    expect(Date.now() - t0).toBeLessThan(20_000);
    await waitUntil('row of the dead target deleted', async () => (await rows()) === 0);
  });
});
