import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** `nodeseal collector` as a real process: access control and enrolment are on by default. */
const TOKEN = `bootstrap-${'b'.repeat(40)}`;
let dir: string;
let proc: ChildProcess;
let url = '';

function run(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'bin/nodeseal.ts', 'collector', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-collector-cli-'));
  const file = join(dir, 'bootstrap');
  await writeFile(file, `${TOKEN}\n`, { mode: 0o600 });
  proc = run([
    '--listen',
    '127.0.0.1:0',
    '--db',
    join(dir, 'c.db'),
    '--bootstrap-token-file',
    file,
    '--ek-ca-dir',
    '/var/lib/swtpm-localca',
    '--log-level',
    'warn',
  ]);
  url = await new Promise<string>((resolve, reject) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[^ ]+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (c) => reject(new Error(`collector exited ${c}: ${err}`)));
  });
}, 30_000);

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await done;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nodeseal collector', () => {
  it('needs a token for the API and accepts the bootstrap token as operator', async () => {
    const none = await fetch(`${url}/v1/nodes`);
    expect(none.status).toBe(401);
    expect((await none.json()).error.code).toBe('ERR_AUTH_REQUIRED');
    expect((await fetch(`${url}/v1/nodes`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${url}/v1/audit`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('refuses to start with a bootstrap token that is too short', async () => {
    const p = run(['--listen', '127.0.0.1:0', '--db', join(dir, 'd.db')], { NODESEAL_BOOTSTRAP_TOKEN: 'short' });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((r) => p.once('exit', r));
    expect(code).toBe(2);
    expect(err).toContain('ERR_AUTH_TOKEN_INPUT');
  }, 20_000);
});
