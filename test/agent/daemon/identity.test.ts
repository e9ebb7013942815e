import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fullJitterDelay, jitteredInterval } from '../../../agent/src/daemon/backoff.js';
import { loadOrCreateIdentity } from '../../../agent/src/daemon/identity.js';

describe('agent identity', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-id-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('makes an ES256 key on first start, stores it 0600, kid = RFC 7638 thumbprint, stable across restarts', async () => {
    const state = join(dir, 'state');
    const a = await loadOrCreateIdentity(state);
    expect((await stat(join(state, 'identity.jwk'))).mode & 0o777).toBe(0o600);
    expect((await stat(state)).mode & 0o777).toBe(0o700);
    const stored = JSON.parse(await readFile(join(state, 'identity.jwk'), 'utf8'));
    expect(stored).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(a.kid).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: stored.x, y: stored.y }));
    expect(a.publicJwk).not.toHaveProperty('d');
    const b = await loadOrCreateIdentity(state);
    expect(b.kid).toBe(a.kid);
  });

  it('tightens a too-open key file and refuses a corrupt one with ERR_AGENT_IDENTITY', async () => {
    const a = await loadOrCreateIdentity(dir);
    await chmod(join(dir, 'identity.jwk'), 0o644);
    expect((await loadOrCreateIdentity(dir)).kid).toBe(a.kid);
    expect((await stat(join(dir, 'identity.jwk'))).mode & 0o777).toBe(0o600);
    await writeFile(join(dir, 'identity.jwk'), '{"kty":"oct"}');
    await expect(loadOrCreateIdentity(dir)).rejects.toMatchObject({ code: 'ERR_AGENT_IDENTITY' });
  });

  it('refuses a state dir that is a file', async () => {
    await writeFile(join(dir, 'f'), 'x');
    await expect(loadOrCreateIdentity(join(dir, 'f'))).rejects.toMatchObject({ code: 'ERR_AGENT_STATE_DIR' });
  });
});

describe('backoff and interval jitter', () => {
  it('full jitter: uniform in [0, min(cap, base·2^(n−1)))', () => {
    const o = { baseMs: 1000, capMs: 60_000 };
    expect(fullJitterDelay(1, o, () => 0.999)).toBe(999);
    expect(fullJitterDelay(3, o, () => 0.5)).toBe(2000);
    expect(fullJitterDelay(30, o, () => 0.999)).toBe(59_940);
    expect(fullJitterDelay(5, o, () => 0)).toBe(0);
  });
  it('interval ±10%', () => {
    expect(jitteredInterval(10_000, () => 0)).toBe(9000);
    expect(jitteredInterval(10_000, () => 1)).toBe(11_000);
    expect(jitteredInterval(10_000, () => 0.5)).toBe(10_000);
  });
});
