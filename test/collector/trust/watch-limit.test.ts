import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthStore, createApiToken, createAuthenticator } from '../../../collector/src/auth/index.js';
import { defaultCollectorConfig } from '../../../collector/src/config.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';

/**
 * A stolen viewer token against the trust watch (real collector, real tokens): it may hold at
 * most 100 streams, so the scheduler's own token can still open its stream.
 */
describe('trust watch slots per token', () => {
  let dir: string;
  let collector: RunningCollector;
  const tokens: Record<string, string> = {};
  const aborts: AbortController[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-watch-limit-'));
    const store = await openSqliteStore(join(dir, 'collector.db'));
    const authStore = new AuthStore(store.db);
    for (const [name, role] of [
      ['stolen', 'viewer'],
      ['slurm', 'scheduler'],
    ] as const) {
      tokens[name] = (await createApiToken(authStore, { name, role, actor: 'cli:root', reason: 'test setup', now: new Date() })).token;
    }
    const config = { ...defaultCollectorConfig(), listen: { host: '127.0.0.1', port: 0 } };
    collector = await startCollector(config, { logger: silentLogger(), store, auth: createAuthenticator({ store: authStore }) });
  });

  afterAll(async () => {
    for (const a of aborts) a.abort();
    await collector?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const watch = async (token: string) => {
    const ac = new AbortController();
    aborts.push(ac);
    const res = await fetch(`${collector.url}/v1/trust/watch`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    return { res, ac };
  };

  it('the 101st stream of one token is refused with ERR_TRUST_WATCH_LIMIT; another token still gets one; a closed stream frees its slot', async () => {
    const held = await Promise.all(Array.from({ length: 100 }, () => watch(tokens.stolen!)));
    expect(held.map((h) => h.res.status)).toEqual(held.map(() => 200));
    const over = await watch(tokens.stolen!);
    expect(over.res.status).toBe(503);
    expect(((await over.res.json()) as { error: { code: string } }).error.code).toBe('ERR_TRUST_WATCH_LIMIT');

    const scheduler = await watch(tokens.slurm!);
    expect(scheduler.res.status).toBe(200);

    held[0]!.ac.abort();
    let again = await watch(tokens.stolen!);
    for (let i = 0; i < 50 && again.res.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await watch(tokens.stolen!);
    }
    expect(again.res.status).toBe(200);
  });
});
