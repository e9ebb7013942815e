import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCollector } from '../../../collector/src/server.js';
import { generateIdentity, importPrivateJwk, signCompact } from '../../../shared/src/jws/index.js';
import { copyHost, removeHost, setGpuField } from '../../helpers/hosts.js';
import { api, removeDir, softTpmSource, startTestAgent, startTestCollector, tempDir, waitFor, type TestAgent } from '../../e2e/harness.js';
import { RawClient } from '../../e2e/raw-client.js';

/** The same pipeline in worker threads (verifyWorkers > 0): verdicts, drift and coded rejections cross the thread boundary. */
describe('verification in a worker pool', () => {
  let dir: string;
  let root: string;
  let collector: RunningCollector;
  let agent: TestAgent;

  beforeAll(async () => {
    dir = await tempDir('pool');
    root = await copyHost('a100');
    collector = await startTestCollector(join(dir, 'c.db'), { verifyWorkers: 2 });
    agent = await startTestAgent({ collector: collector.wsUrl, nodeId: 'pooled', evidence: softTpmSource(root) });
  });
  afterAll(async () => {
    await agent?.stop();
    await collector?.close();
    await removeHost(root);
    await removeDir(dir);
  });

  it('verifies, detects drift and rejects with codes from the workers', async () => {
    await waitFor('trusted', async () => (await api(collector.url, 'GET', '/v1/nodes/pooled/trust')).json.status === 'trusted');
    await setGpuField(root, 0, 'serial', '1234567890123');
    const t = await waitFor(
      'drift',
      async () => {
        const j = (await api(collector.url, 'GET', '/v1/nodes/pooled/trust')).json;
        return j.status === 'untrusted' ? j : null;
      },
      5000,
    );
    expect(t.reasons.map((r: { code: string }) => r.code)).toContain('gpu.replaced');

    const other = await generateIdentity();
    const c = await RawClient.open(collector.wsUrl);
    c.send({ type: 'hello', nodeId: 'pooled', agentVersion: 'x', kid: agent.daemon.kid });
    const ch = await c.next((m) => m.type === 'challenge');
    const jws = await signCompact(
      { v: 1, nodeId: 'pooled', seq: 9_999_999, nonce: ch.nonce },
      await importPrivateJwk(other.privateJwk, 'ES256'),
      { alg: 'ES256', kid: agent.daemon.kid, typ: 'nodeseal-report+jws' },
    );
    c.send({ type: 'report', jws });
    expect((await c.next((m) => m.type === 'error')).code).toBe('ERR_JWS_SIGNATURE');
    c.close();
  });
});
