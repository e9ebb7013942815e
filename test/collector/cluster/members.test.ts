import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERR_CLUSTER_CLOSED, isFresh, startMembership } from '../../../collector/src/cluster/index.js';
import type { Membership } from '../../../collector/src/cluster/index.js';
import { pgAdmin, pgSchemas, pgUrl } from '../../helpers/postgres.js';

const pg = pgSchemas('nodeseal_members');
const schema = pg.schema('m');
const open: Membership[] = [];
afterAll(async () => {
  for (const m of open) await m.close({ leave: false }).catch(() => undefined);
  await pg.dropAll();
});

/** One clock for every collector of the test, moved by hand (heartbeat times are compared to it). */
let now = 1_000_000;
const clock = (): number => now;
const HOUR = 3_600_000;

async function member(collectorId: string): Promise<Membership> {
  // heartbeatMs of an hour: only the test's explicit heartbeat() calls beat.
  const m = await startMembership({
    url: pgUrl,
    schema,
    collectorId,
    advertisedUrl: `https://${collectorId}:8443`,
    heartbeatMs: HOUR,
    deadAfterMs: 5_000,
    clock,
  });
  open.push(m);
  return m;
}

describe('isFresh (pure)', () => {
  it('counts a heartbeat until deadAfterMs has passed', () => {
    expect(isFresh(1000, 5999, 5000)).toBe(true);
    expect(isFresh(1000, 6000, 5000)).toBe(false);
  });
});

describe('membership on PostgreSQL', () => {
  let a: Membership;
  let b: Membership;
  beforeAll(async () => {
    await (await pg.openStore(schema)).close(); // migrated schema
    a = await member('col-a');
    b = await member('col-b');
  });

  it('lists members, alive, with their advertised URLs', async () => {
    const list = await a.members();
    expect(list.map((m) => [m.collectorId, m.url, m.alive])).toEqual([
      ['col-a', 'https://col-a:8443', true],
      ['col-b', 'https://col-b:8443', true],
    ]);
    expect(await b.isAlive('col-a')).toBe(true);
    expect(await b.isAlive('col-z')).toBe(false);
  });

  it('tells every collector which one holds a node, and forgets it on disconnect', async () => {
    expect(await a.holderOf('n1')).toBeNull();
    await b.setConnected('n1', true);
    expect(await a.holderOf('n1')).toBe('col-b');
    expect(await a.isConnected('n1')).toBe(true);
    // A second connection elsewhere (agent failover): the most recent one holds.
    now += 1;
    await a.setConnected('n1', true);
    expect(await b.holderOf('n1')).toBe('col-a');
    await a.setConnected('n1', false);
    expect(await b.holderOf('n1')).toBe('col-b');
    await b.setConnected('n1', false);
    expect(await a.isConnected('n1')).toBe(false);
  });

  it("ignores a dead member's connections and reports it dead", async () => {
    await b.setConnected('n2', true);
    expect(await a.holderOf('n2')).toBe('col-b');
    expect(await a.nodesHeldElsewhere()).toEqual(new Set(['n2']));
    expect(await b.nodesHeldElsewhere()).toEqual(new Set());
    now += 6_000; // past deadAfterMs; only A beats
    await a.heartbeat();
    expect(await a.isAlive('col-b')).toBe(false);
    expect(await a.isAlive('col-a')).toBe(true);
    expect(await a.holderOf('n2')).toBeNull();
    expect(await a.isConnected('n2')).toBe(false);
    expect(await a.nodesHeldElsewhere()).toEqual(new Set());
    expect((await a.members()).find((m) => m.collectorId === 'col-b')?.alive).toBe(false);
    // B beats again (it was only stalled): its connection counts again.
    await b.heartbeat();
    expect(await a.holderOf('n2')).toBe('col-b');
  });

  it('clears its own stale rows when it starts again after a crash', async () => {
    await b.setConnected('n3', true);
    await b.close({ leave: false }); // as a crash would: rows stay
    expect(await a.holderOf('n3')).toBe('col-b');
    const b2 = await member('col-b');
    expect(await a.holderOf('n3')).toBeNull();
    expect(await a.holderOf('n2')).toBeNull();
    expect(await a.isAlive('col-b')).toBe(true);
    await b2.close(); // leaves: gone at once
    expect(await a.isAlive('col-b')).toBe(false);
    expect((await a.members()).map((m) => m.collectorId)).toEqual(['col-a']);
    await expect(b2.holderOf('x')).rejects.toMatchObject({ code: ERR_CLUSTER_CLOSED });
  });

  it('registers again, with the connections it holds, when its row was pruned', async () => {
    await a.setConnected('n4', true);
    await pgAdmin(`DELETE FROM ${schema}.cluster_members WHERE collector_id = 'col-a'`);
    await pgAdmin(`DELETE FROM ${schema}.node_connections WHERE collector_id = 'col-a'`);
    expect(await a.isAlive('col-a')).toBe(false);
    await a.heartbeat();
    expect(await a.isAlive('col-a')).toBe(true);
    expect(await a.holderOf('n4')).toBe('col-a');
  });

  it('prunes members dead for 10 × deadAfterMs, with their connections', async () => {
    const c = await member('col-c');
    await c.setConnected('n5', true);
    await c.close({ leave: false });
    now += 60_000;
    await a.heartbeat();
    expect((await a.members()).map((m) => m.collectorId)).toEqual(['col-a']);
    const rows = await pgAdmin(`SELECT * FROM ${schema}.node_connections WHERE collector_id = 'col-c'`);
    expect(rows).toEqual([]);
  });
});
