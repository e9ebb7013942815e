import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthStore, createApiToken, createAuthenticator } from '../../../collector/src/auth/index.js';
import { defaultCollectorConfig } from '../../../collector/src/config.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { type RunningCollector, startCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import { readEventStream } from '../../../collector/src/http/sse-reader.js';

/**
 * Issue 12: one viewer token used to take all 100 live streams and lock operators out with
 * 503 ERR_LIVE_CLIENT_LIMIT. A real collector with real tokens and small limits (6 streams,
 * 2 per token, 2 kept for operators): a token's third stream is 429 ERR_LIVE_TOKEN_LIMIT; when
 * viewers and schedulers hold their share of 4 the next one is 503 and operators still get in;
 * a closed stream frees its slot.
 */
describe('live stream admission: per-token cap and operator reserve (real HTTP)', () => {
  let dir: string;
  let collector: RunningCollector;
  const tokens: Record<string, string> = {};
  const open: AbortController[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-live-admission-'));
    const store = await openSqliteStore(join(dir, 'collector.db'));
    const authStore = new AuthStore(store.db);
    for (const [name, role] of [
      ['kiosk', 'viewer'],
      ['wall', 'viewer'],
      ['noc', 'viewer'],
      ['slurm', 'scheduler'],
      ['alice', 'operator'],
      ['bob', 'operator'],
    ] as const) {
      tokens[name] = (await createApiToken(authStore, { name, role, actor: 'cli:root', reason: 'test setup', now: new Date() })).token;
    }
    const config = {
      ...defaultCollectorConfig(),
      listen: { host: '127.0.0.1', port: 0 },
      liveMaxStreams: 6,
      liveMaxStreamsPerToken: 2,
      liveOperatorReserve: 2,
    };
    collector = await startCollector(config, { logger: silentLogger(), store, auth: createAuthenticator({ store: authStore }) });
  });

  afterAll(async () => {
    for (const a of open) a.abort();
    await collector?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Opens /v1/events; on 200 waits for the `: connected` comment so the slot is surely held. */
  const stream = async (who: string) => {
    const ac = new AbortController();
    const res = await fetch(`${collector.url}/v1/events`, { headers: { authorization: `Bearer ${tokens[who]}` }, signal: ac.signal });
    if (res.status !== 200) return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code, ac };
    open.push(ac);
    const connected = new Promise<void>((resolve) => {
      readEventStream(res.body!, () => {}, { onComment: (c) => c.trim() === 'connected' && resolve(), signal: ac.signal }).catch(() => {});
    });
    await connected;
    return { status: 200, code: null, ac };
  };

  it('caps each token, keeps the reserve for operators, and frees slots on close', async () => {
    const k1 = await stream('kiosk');
    expect((await stream('kiosk')).status).toBe(200);
    expect(await stream('kiosk')).toMatchObject({ status: 429, code: 'ERR_LIVE_TOKEN_LIMIT' });

    expect((await stream('wall')).status).toBe(200);
    expect((await stream('wall')).status).toBe(200);
    // Non-operators hold 4 of 6: the other 2 are the operators'.
    expect(await stream('noc')).toMatchObject({ status: 503, code: 'ERR_LIVE_CLIENT_LIMIT' });
    expect(await stream('slurm')).toMatchObject({ status: 503, code: 'ERR_LIVE_CLIENT_LIMIT' });
    expect((await stream('alice')).status).toBe(200);
    expect((await stream('bob')).status).toBe(200);
    expect(await stream('alice')).toMatchObject({ status: 503, code: 'ERR_LIVE_CLIENT_LIMIT' });

    // A viewer leaving frees a slot of the share (polled: the server sees the close a moment later).
    k1.ac.abort();
    let again = await stream('noc');
    for (let i = 0; i < 100 && again.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await stream('noc');
    }
    expect(again.status).toBe(200);
  });
});
