import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { type NodeFeed, pickNewer, staleIds, startNodeFeed } from '../../../collector/src/cluster/index.js';
import { nodeChannel } from '../../../collector/src/cluster/names.js';
import type { Baseline, Store, VersionedNode } from '../../../collector/src/store/store.js';
import { node } from '../store/contract.js';
import { pgAdmin, pgSchemas, pgUrl, terminateBackend } from '../../helpers/postgres.js';
import { waitUntil } from '../../helpers/wait.js';

const logger = pino({ level: 'silent' });
const pg = pgSchemas('nodeseal_feed');
const open: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const o of open.reverse()) await o.close().catch(() => undefined);
  await pg.dropAll();
});

/** Every 'node' event of a feed, in order. */
function record(feed: NodeFeed): VersionedNode[] {
  const seen: VersionedNode[] = [];
  feed.on('node', (n) => seen.push(n));
  return seen;
}

const last = (events: VersionedNode[], id: string): VersionedNode | undefined => events.filter((e) => e.nodeId === id).at(-1);

function baseline(nodeId: string): Baseline {
  return {
    nodeId,
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
    inventoryDigest: 'sha256:inv2',
    pcrs: null,
    eventLog: null,
    approvedBy: 'alice',
    reason: 'planned update',
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('version guard (pure)', () => {
  const v = (nodeId: string, version: number): VersionedNode => ({ ...node(nodeId), version });
  it('keeps only rows newer than the seen version, the newest per node', () => {
    const seen = new Map([
      ['a', 5],
      ['b', 2],
    ]);
    expect(pickNewer(seen, [v('a', 5), v('a', 4), v('b', 3), v('c', 1), v('b', 7), v('b', 6)]).map((n) => [n.nodeId, n.version])).toEqual([
      ['b', 7],
      ['c', 1],
    ]);
    expect(pickNewer(seen, [])).toEqual([]);
  });
  it('names the ids whose stored version is ahead of the seen one', () => {
    const seen = new Map([
      ['a', 5],
      ['b', 2],
    ]);
    const stored = new Map([
      ['a', 5],
      ['b', 3],
      ['c', 1],
    ]);
    expect(staleIds(seen, stored)).toEqual(['b', 'c']);
  });
});

describe('node change feed on PostgreSQL', () => {
  const schema = pg.schema('main');
  let a: Store; // collector A's store
  let b: Store; // collector B's store, same database and schema
  let feedB: NodeFeed;
  let eventsB: VersionedNode[];

  beforeAll(async () => {
    a = await pg.openStore(schema);
    b = await pg.openStore(schema);
    open.push(a, b);
    await a.upsertNode(node('pre-1'));
    feedB = startNodeFeed({ url: pgUrl, store: b, logger, catchUpMs: 60_000, minBackoffMs: 20, maxBackoffMs: 200 });
    open.push(feedB);
    eventsB = record(feedB);
    await feedB.ready;
  });

  it('emits every node once on the initial load', () => {
    expect(eventsB.map((n) => n.nodeId)).toEqual(['pre-1']);
    expect(feedB.stats()).toMatchObject({ listening: true, catchUps: 1, known: 1, healed: 0 });
  });

  it("emits another collector's writes and its setBaseline, each with a higher version", async () => {
    await a.upsertNode(node('x-1', { status: 'unknown' }));
    const first = await waitUntil('x-1 on B', () => last(eventsB, 'x-1'));
    expect(first.status).toBe('unknown');
    await a.upsertNode(node('x-1', { status: 'untrusted', lastSeq: 4 }));
    const second = await waitUntil('x-1 untrusted on B', () =>
      last(eventsB, 'x-1')?.status === 'untrusted' ? last(eventsB, 'x-1') : null,
    );
    expect(second.version).toBeGreaterThan(first.version);
    expect(second.lastSeq).toBe(4);
    await a.setBaseline(baseline('x-1'), {
      nodeId: 'x-1',
      actor: 'alice',
      reason: 'planned update',
      at: '2026-01-01T00:00:00.000Z',
      inventoryDigest: 'sha256:inv2',
    });
    const third = await waitUntil('x-1 after approval', () =>
      last(eventsB, 'x-1')!.version > second.version ? last(eventsB, 'x-1') : null,
    );
    expect(third.version).toBe((await b.getNode('x-1'))!.version);
    expect(feedB.stats().healed).toBe(0);
    // Versions never go backwards in what the feed emitted.
    const versions = eventsB.filter((e) => e.nodeId === 'x-1').map((e) => e.version);
    expect([...versions].sort((p, q) => p - q)).toEqual(versions);
  });

  it('emits report writes of a group commit, several nodes in one transaction', async () => {
    const ids = ['gc-a', 'gc-b', 'gc-c'];
    await a.recordReports(
      ids.map((id) => ({
        report: {
          nodeId: id,
          seq: 1,
          receivedAt: '2026-01-01T00:00:00.000Z',
          nonce: null,
          kind: 'history' as const,
          status: 'trusted' as const,
          reasons: [],
          inventoryDigest: 'sha256:i',
          pcrDigest: null,
          jws: 'h.p.s',
        },
        changes: [],
        node: node(id, { lastSeq: 1 }),
      })),
    );
    await waitUntil('all three on B', () => ids.every((id) => last(eventsB, id)?.lastSeq === 1));
  });

  it('hears nothing from another schema in the same database', async () => {
    const other = await pg.openStore(pg.schema('other'));
    open.push(other);
    await other.upsertNode(node('foreign-1'));
    await a.upsertNode(node('after-foreign'));
    await waitUntil('after-foreign on B', () => last(eventsB, 'after-foreign'));
    expect(last(eventsB, 'foreign-1')).toBeUndefined();
    expect(nodeChannel(schema)).not.toBe(nodeChannel(pg.schema('other')));
  });

  it('reconnects after its LISTEN session is terminated and catches up on what it missed', async () => {
    const pid = feedB.listenerPid()!;
    expect(await terminateBackend(pid)).toBe(true);
    // Written while the listener is down or reconnecting; the periodic catch-up is 60 s away.
    await a.upsertNode(node('during-outage', { lastSeq: 9 }));
    await waitUntil('during-outage on B', () => last(eventsB, 'during-outage'));
    await waitUntil('new LISTEN session', () => feedB.listenerPid() !== null && feedB.listenerPid() !== pid);
    expect(feedB.stats().reconnects).toBeGreaterThanOrEqual(1);
    await a.upsertNode(node('after-outage'));
    await waitUntil('after-outage on B through the new session', () => last(eventsB, 'after-outage'));
  });
});

describe('catch-up and version guard against a real database', () => {
  const schema = pg.schema('heal');
  let store: Store;
  beforeAll(async () => {
    store = await pg.openStore(schema);
    open.push(store);
  });

  it('heals a write that sent no notification within catchUpMs', async () => {
    const feed = startNodeFeed({ url: pgUrl, store, logger, catchUpMs: 200 });
    open.push(feed);
    const events = record(feed);
    await feed.ready;
    const before = feed.stats();
    // session_replication_role = replica skips the node triggers: no NOTIFY for this commit
    // (the statement's own version + 1 still applies), as if the notification were lost.
    await store.db.transaction(async (tx) => {
      await tx.exec('SET LOCAL session_replication_role = replica');
      await tx.run(
        "INSERT INTO nodes (node_id, status, reasons, first_seen_at) VALUES ('silent-1', 'unknown', '[]', 'x') ON CONFLICT (node_id) DO UPDATE SET version = nodes.version + 1",
      );
    });
    const t0 = Date.now();
    const got = await waitUntil('silent-1 healed', () => last(events, 'silent-1'));
    expect(got.status).toBe('unknown');
    const after = feed.stats();
    expect(after.notifications).toBe(before.notifications);
    expect(after.healed).toBe(1);
    expect(feed.lagMs()).toBeLessThan(60_000);
    process.stdout.write(`feed: a write without NOTIFY was emitted ${Date.now() - t0} ms after commit (catchUpMs 200)\n`);
    await feed.close();
  });

  it('never emits a version older than one it emitted (a read that returns a stale row)', async () => {
    let staleOnce: VersionedNode[] | null = null;
    const reads: string[][] = [];
    // Our own port wrapped: one read answers with an older row, as a lagging replica could.
    const lagging: Pick<Store, 'getNodes' | 'nodeVersions' | 'db'> = {
      db: store.db,
      nodeVersions: () => store.nodeVersions(),
      async getNodes(ids) {
        reads.push([...ids]);
        if (staleOnce) {
          const rows = staleOnce;
          staleOnce = null;
          return rows;
        }
        return store.getNodes(ids);
      },
    };
    const feed = startNodeFeed({ url: pgUrl, store: lagging, logger, catchUpMs: 60_000 });
    open.push(feed);
    const events = record(feed);
    await feed.ready;
    await store.upsertNode(node('g-1', { lastSeq: 1 }));
    const v1 = await waitUntil('g-1 v1', () => last(events, 'g-1'));
    await store.upsertNode(node('g-1', { lastSeq: 2 }));
    await waitUntil('g-1 v2', () => last(events, 'g-1')!.lastSeq === 2);
    staleOnce = [v1];
    const readsBefore = reads.length;
    await pgAdmin(`SELECT pg_notify($1, 'g-1')`, [nodeChannel(schema)]);
    await waitUntil('the stale read', () => reads.length > readsBefore && staleOnce === null);
    await store.upsertNode(node('g-1', { lastSeq: 3 }));
    await waitUntil('g-1 v3', () => last(events, 'g-1')!.lastSeq === 3);
    expect(events.filter((e) => e.nodeId === 'g-1').map((e) => e.lastSeq)).toEqual([1, 2, 3]);
    await feed.close();
  });

  it('measures commit → event propagation between two collectors (printed)', async () => {
    const writer = await pg.openStore(schema);
    open.push(writer);
    const feed = startNodeFeed({ url: pgUrl, store, logger });
    open.push(feed);
    await feed.ready;
    const arrived = new Map<string, number>();
    feed.on('node', (n) => {
      if (n.nodeId.startsWith('prop-')) arrived.set(`${n.nodeId}#${n.lastSeq}`, performance.now());
    });
    const delays: number[] = [];
    for (let i = 0; i < 200; i++) {
      const key = `prop-${i % 20}#${i}`;
      const t0 = performance.now(); // before the write: the delay includes the commit itself
      await writer.upsertNode(node(`prop-${i % 20}`, { lastSeq: i }));
      const at = await waitUntil(`event ${key}`, () => arrived.get(key), 5_000, 1);
      delays.push(at - t0);
    }
    delays.sort((p, q) => p - q);
    const p = (q: number): number => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]!;
    process.stdout.write(
      `feed propagation (write start → 'node' event on another store, 200 writes, coalesceMs 5): p50 ${p(0.5).toFixed(1)} ms, p99 ${p(0.99).toFixed(1)} ms, max ${delays.at(-1)!.toFixed(1)} ms\n`,
    );
    expect(delays).toHaveLength(200);
    expect(feed.stats().healed).toBe(0);
    await feed.close();
  });
});
