import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollectorConfig } from '../../../collector/src/config.js';

describe('collector config layers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-cfg-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('has documented defaults; freshness TTL follows the interval', () => {
    const c = loadCollectorConfig();
    expect(c).toMatchObject({
      listen: { host: '127.0.0.1', port: 8443 },
      intervalSec: 60,
      freshnessTtlSec: 180,
      maxPayloadBytes: 4 * 1024 * 1024,
      insecure: false,
    });
    expect(loadCollectorConfig({ flags: { interval: '10' } }).freshnessTtlSec).toBe(30);
  });

  it('applies file, then environment, then flags', async () => {
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ intervalSec: 5, db: '/from/file.db', heartbeatSec: 7, alerts: { webhooks: [] } }));
    const c = loadCollectorConfig({ file, env: { NODESEAL_INTERVAL_SEC: '6', NODESEAL_DB: '/from/env.db' }, flags: { interval: '8' } });
    expect(c.intervalSec).toBe(8);
    expect(c.db).toBe('/from/env.db');
    expect(c.heartbeatSec).toBe(7);
    expect(c.sections).toEqual({ alerts: { webhooks: [] } });
  });

  it('lists every problem at once with ERR_CONFIG', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ intervalSec: 'soon', bogus: 1 }));
    let err: any;
    try {
      loadCollectorConfig({ file, env: { NODESEAL_MAX_PAYLOAD_BYTES: '12' }, flags: { listen: 'nope', 'tls-cert': '/c.pem' } });
    } catch (e) {
      err = e;
    }
    expect(err?.code).toBe('ERR_CONFIG');
    expect(err.details.problems.length).toBeGreaterThanOrEqual(5);
    for (const part of ['intervalSec', 'bogus', 'NODESEAL_MAX_PAYLOAD_BYTES', '--listen', 'tlsCert and tlsKey'])
      expect(err.message).toContain(part);
  });

  it('refuses plain listening off loopback unless --insecure', () => {
    expect(() => loadCollectorConfig({ flags: { listen: '0.0.0.0:8443' } })).toThrow(/refusing plain/);
    expect(loadCollectorConfig({ flags: { listen: '0.0.0.0:8443', insecure: true } }).insecure).toBe(true);
    expect(loadCollectorConfig({ flags: { listen: '0.0.0.0:8443', 'tls-cert': '/c', 'tls-key': '/k' } }).tlsCert).toBe('/c');
    expect(loadCollectorConfig({ flags: { listen: '[::1]:9000' } }).listen).toEqual({ host: '::1', port: 9000 });
  });
});
