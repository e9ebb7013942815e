import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startLeaderElection } from '../../../collector/src/cluster/index.js';
import type { LeaderElection } from '../../../collector/src/cluster/index.js';
import { pgSchemas, pgUrl, terminateBackend } from '../../helpers/postgres.js';
import { waitUntil } from '../../helpers/wait.js';

const logger = pino({ level: process.env.DEBUG_LEADER ? 'debug' : 'silent' });
const pg = pgSchemas('nodeseal_leader');
const open: LeaderElection[] = [];
afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
  await pg.dropAll();
});

const RETRY_MS = 200;

interface Candidate {
  id: string;
  election: LeaderElection;
  /** 'elected' / 'deposed', in order. */
  log: string[];
}

async function candidate(schema: string, id: string): Promise<Candidate> {
  const log: string[] = [];
  const election = await startLeaderElection({
    url: pgUrl,
    schema,
    logger,
    collectorId: id,
    retryMs: RETRY_MS,
    onElected: () => void log.push('elected'),
    onDeposed: () => void log.push('deposed'),
  });
  open.push(election);
  return { id, election, log };
}

const leaders = (cs: Candidate[]): string[] => cs.filter((c) => c.election.isLeader()).map((c) => c.id);

describe('leader election on a PostgreSQL advisory lock', () => {
  const schema = pg.schema('l');
  let cs: Candidate[];
  beforeAll(async () => {
    await (await pg.openStore(schema)).close();
    cs = await Promise.all(['c1', 'c2', 'c3'].map((id) => candidate(schema, id)));
  });

  it('elects exactly one of three, and all of them learn its id', async () => {
    await waitUntil('one leader', () => leaders(cs).length === 1);
    const leader = leaders(cs)[0]!;
    await waitUntil('everyone knows the leader', () => cs.every((c) => c.election.leaderId() === leader));
    // Several more rounds of lock attempts: still exactly one.
    const rounds = Date.now() + 5 * RETRY_MS;
    await waitUntil('five retry periods', () => Date.now() > rounds, 5_000, RETRY_MS);
    expect(leaders(cs)).toEqual([leader]);
  });

  it('hands over within the bound when the leader’s session is killed (as kill -9 ends it)', async () => {
    const old = cs.find((c) => c.election.isLeader())!;
    const t0 = Date.now();
    expect(await terminateBackend(old.election.sessionPid()!)).toBe(true);
    await waitUntil('a new leader', () => leaders(cs).some((id) => id !== old.id), 10_000);
    const takeoverMs = Date.now() - t0;
    process.stdout.write(`leader: takeover after the leader's session was terminated: ${takeoverMs} ms (retryMs ${RETRY_MS})\n`);
    expect(old.log.at(-1)).toBe('deposed');
    const next = leaders(cs).find((id) => id !== old.id)!;
    await waitUntil(
      'everyone knows the new leader',
      () => cs.every((c) => c.election.leaderId() === next || c.election.leaderId() === null) && old.election.leaderId() === next,
    );
    // The old one is a follower now (it reconnected), and there is still one leader.
    expect(leaders(cs)).toEqual([next]);
  });

  it('hands over when the leader closes, and never shows two leaders', async () => {
    let maxLeaders = 0;
    const watch = setInterval(() => (maxLeaders = Math.max(maxLeaders, leaders(cs).length)), 5);
    try {
      const old = cs.find((c) => c.election.isLeader())!;
      await old.election.close();
      expect(old.log.at(-1)).toBe('deposed');
      expect(old.election.isLeader()).toBe(false);
      await waitUntil(
        'a leader among the rest',
        () => {
          maxLeaders = Math.max(maxLeaders, leaders(cs).length);
          return leaders(cs).length === 1;
        },
        5_000,
      );
      expect(leaders(cs)[0]).not.toBe(old.id);
    } finally {
      clearInterval(watch);
    }
    expect(maxLeaders).toBe(1);
  });

  it('keeps schemas apart: a leader in another schema does not block this one', async () => {
    const s2 = pg.schema('l2');
    await (await pg.openStore(s2)).close();
    const other = await candidate(s2, 'solo');
    await waitUntil('solo leads its own schema', () => other.election.isLeader());
    expect(leaders(cs)).toHaveLength(1);
  });
});
