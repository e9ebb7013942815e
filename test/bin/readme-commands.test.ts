import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollectorConfig } from '../../collector/src/config.js';
import { startCollector, type RunningCollector } from '../../collector/src/server.js';

/** The `curl ... "$NODESEAL_URL/..."` lines of the README's shell blocks: does each work as written? */
async function readmeCurls(): Promise<{ line: string; path: string; authed: boolean }[]> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split('\n'))
    .filter((l) => /^curl\b/.test(l) && l.includes('$NODESEAL_URL'))
    .map((line) => ({
      line,
      path: /"\$NODESEAL_URL(\/[^"]*)"/.exec(line)![1]!,
      authed: /-H "(\$AUTH|Authorization: Bearer [^"]+)"/.test(line),
    }));
}

describe('README: every curl against the collector API works as written', () => {
  let dir: string;
  let c: RunningCollector;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-readme-'));
    const config = loadCollectorConfig({ flags: { listen: '127.0.0.1:0', db: join(dir, 'c.db') } });
    c = await startCollector(config, {
      logger: pino({ level: 'silent' }),
      auth: { authenticate: (req) => (req.headers.authorization === 'Bearer sched' ? { name: 'slurm', role: 'scheduler' } : null) },
    });
  });
  afterAll(async () => {
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends a bearer token wherever the collector asks for one', async () => {
    const curls = await readmeCurls();
    expect(curls.length).toBeGreaterThanOrEqual(4);
    for (const { line, path, authed } of curls) {
      const ac = new AbortController();
      const res = await fetch(c.url + path, { signal: ac.signal, ...(authed ? { headers: { authorization: 'Bearer sched' } } : {}) });
      ac.abort();
      // 404 for the example node is fine; 401/403 means the line as written cannot work.
      expect({ line, refused: res.status === 401 || res.status === 403 }).toEqual({ line, refused: false });
    }
  });
});
