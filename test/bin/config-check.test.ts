import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectConfigKind } from '../../bin/config-check.js';

/** `nodeseal config check`, run as the real CLI on files written here. */
const REPO = resolve(import.meta.dirname, '../..');
let dir: string;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'bin/nodeseal.ts'), ...args],
      { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 },
      (e, out, err) => done({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err }),
    );
  });
}

async function file(name: string, content: unknown): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return p;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-config-check-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('detectConfigKind', () => {
  it.each([
    [{ collector: 'wss://c:8443', stateDir: '/x' }, 'agent'],
    [{ tcti: 'none', intervalSec: 5 }, 'agent'],
    [{ listen: '127.0.0.1:8443', db: '/x.db' }, 'collector'],
    [{ alerts: {}, logLevel: 'info' }, 'collector'],
    [{ intervalSec: 60, logLevel: 'info' }, null],
    [{}, null],
    [{ collector: 'wss://c:8443', listen: '127.0.0.1:1' }, null],
  ])('%j → %s', (obj, kind) => expect(detectConfigKind(obj)).toBe(kind));
});

describe('nodeseal config check', () => {
  it('valid files as the installers write them: exit 0, kind detected', async () => {
    const agent = await file('agent.json', {
      stateDir: '/var/lib/nodeseal/agent',
      collector: 'wss://collector.example:8443',
      caFile: '/etc/nodeseal/collector-ca.pem',
      nodeId: 'gpu-001',
    });
    const a = await cli(['config', 'check', agent]);
    expect(a).toMatchObject({ code: 0, out: `${agent}: valid agent configuration\n` });
    const collector = await file('collector.json', {
      db: '/var/lib/nodeseal/collector/collector.db',
      listen: '0.0.0.0:8443',
      tlsCert: '/etc/nodeseal/tls/collector.crt',
      tlsKey: '/etc/nodeseal/tls/collector.key',
      alerts: { webhooks: [{ name: 'ops', url: 'https://hooks.example/x', secret: 'sixteen-chars-or-more' }] },
      metrics: { public: false },
      slurm: { mode: 'drain' },
    });
    const c = await cli(['config', 'check', '--json', collector]);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out)).toEqual({ file: collector, kind: 'collector', valid: true, problems: [] });
  });

  it('a collector file with several problems: every one listed, from the top level and each section; exit 1', async () => {
    const p = await file('bad-collector.json', {
      listen: '0.0.0.0:99999',
      db: '',
      intervalSec: 60,
      freshnessTtlSec: 10,
      rateLimitPerSec: 50,
      rateLimitBurst: 5,
      tlsCert: '/x.crt',
      colour: 'blue',
      alerts: { webhooks: [{ name: 'ops', url: 'https://hooks.example/x' }] },
      metrics: { perNodeLimit: -1 },
      slurm: { mode: 'always', extra: 1 },
    });
    const r = await cli(['config', 'check', '--json', p]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.out) as { kind: string; valid: boolean; problems: string[] };
    expect(out).toMatchObject({ kind: 'collector', valid: false });
    const expected = [
      /^listen: must be HOST:PORT/,
      /^db: must be a non-empty string/,
      /unknown option "colour"/,
      /freshnessTtlSec \(10\) must not be shorter than intervalSec/,
      /tlsCert and tlsKey must be given together/,
      /rateLimitBurst must be at least rateLimitPerSec/,
      /^alerts\.webhooks\.0\.secret: required/,
      /^metrics\.perNodeLimit:/,
      /slurm: unknown option "extra"/,
      /slurm\.mode must be off, drain or report-only/,
    ];
    for (const re of expected)
      expect(
        out.problems.some((x) => re.test(x)),
        `${re} in ${JSON.stringify(out.problems)}`,
      ).toBe(true);
    expect(out.problems).toHaveLength(expected.length);
    // The same top-level problems stop the collector itself at start (the same validation).
    const start = await cli(['collector', '--config', p]);
    expect(start.code).toBe(2);
    expect(start.err).toContain('ERR_CONFIG');
    expect(start.err).toContain('rateLimitBurst must be at least rateLimitPerSec');
    const text = await cli(['config', 'check', p]);
    expect(text.out.split('\n')[0]).toBe(`${p}: invalid collector configuration, ${expected.length} problems:`);
  });

  it('an agent file with several problems, and a contradictory token, all listed without echoing the token; exit 1', async () => {
    const p = await file('bad-agent.json', {
      collector: 'http://collector.example/path',
      stateDir: '/x',
      intervalSec: 0,
      spoolMaxCount: 1.5,
      tcti: 'none',
      enrollToken: 'nse_secret-token-value',
      nodeId: 'bad id',
    });
    const r = await cli(['config', 'check', p]);
    expect(r.code).toBe(1);
    for (const s of [
      'intervalSec: must be at least 0.2',
      'spoolMaxCount: must be an integer',
      'must start with wss://',
      'must be the base URL',
      'node id "bad id"',
      'enrolment needs the TPM',
    ])
      expect(r.out).toContain(s);
    expect(r.out).not.toContain('secret-token-value');
  });

  it('ambiguous content needs --kind (exit 2); with --kind the file is checked as that kind', async () => {
    const p = await file('shared-keys.json', { intervalSec: 30, logLevel: 'debug' });
    const r = await cli(['config', 'check', p]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('pass --kind agent|collector (ERR_USAGE)');
    const asAgent = await cli(['config', 'check', '--kind', 'agent', p]);
    expect(asAgent.code).toBe(1);
    expect(asAgent.out).toContain('--collector is required');
    expect(await cli(['config', 'check', '--kind', 'collector', p])).toMatchObject({ code: 0 });
    // --env applies NODESEAL_* as the program would.
    expect(await cli(['config', 'check', '--kind', 'agent', '--env', p], { NODESEAL_COLLECTOR: 'wss://c.example:8443' })).toMatchObject({
      code: 0,
    });
  });

  it('unreadable file: one clear line, exit 2; not JSON: invalid, exit 1; usage mistakes exit 2', async () => {
    const missing = await cli(['config', 'check', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.out).toBe('');
    expect(missing.err).toBe(`nodeseal config check: cannot read ${join(dir, 'nope.json')}: ENOENT (ERR_CONFIG)\n`);
    const isDir = await cli(['config', 'check', dir]);
    expect(isDir.code).toBe(2);
    expect(isDir.err).toContain('EISDIR');
    const notJson = await cli(['config', 'check', await file('broken.json', '{ "listen": ')]);
    expect(notJson.code).toBe(1);
    expect(notJson.out).toContain('not valid JSON');
    expect((await cli(['config', 'check'])).code).toBe(2);
    expect((await cli(['config', 'check', '--kind', 'scheduler', join(dir, 'agent.json')])).err).toContain(
      '--kind must be agent or collector',
    );
  });
});
