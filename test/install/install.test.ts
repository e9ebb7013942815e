import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSwtpm, type Swtpm } from '../helpers/swtpm.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
let tmp: string;
let release: string;
const children: ChildProcess[] = [];

/** Run an installer; never throws, returns exit code and output. */
async function install(
  script: 'install-agent.sh' | 'install-collector.sh',
  destdir: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run('bash', [join(REPO, 'scripts', script), '--release', release, ...args], {
      env: { ...process.env, DESTDIR: destdir },
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

/** Every file and link under root (relative path → mode and content hash or link target). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) out[relative(root, p)] = `link:${readlinkSync(p)}`;
      else
        out[relative(root, p)] =
          `${(st.mode & 0o7777).toString(8)}:${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
    }
  };
  walk(root);
  return out;
}

async function exposure(unitPath: string): Promise<number> {
  const { stdout } = await run('systemd-analyze', ['security', '--offline=true', unitPath]);
  const m = /Overall exposure level for \S+: ([0-9.]+)/.exec(stdout);
  if (!m) throw new Error(`no exposure score in systemd-analyze output:\n${stdout.slice(-500)}`);
  return Number(m[1]);
}

async function freshRoot(name: string): Promise<string> {
  const d = join(tmp, name);
  await mkdir(d, { recursive: true });
  return d;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'nodeseal-install-'));
  release = join(tmp, 'release');
  await run(process.execPath, [join(REPO, 'scripts/release.mjs'), release]);
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  await rm(tmp, { recursive: true, force: true });
});

describe('release folder', () => {
  it('holds the bundled CLI, the native modules and the installers', () => {
    for (const f of [
      'nodeseal.mjs',
      'bin/nodeseal',
      'index.html',
      'client.js',
      'node_modules/better-sqlite3/build/Release/better_sqlite3.node',
      'node_modules/koffi/index.js',
      'scripts/install-agent.sh',
      'scripts/systemd/nodeseal-agent.service',
      'docs/configuration.md',
    ]) {
      expect(statSync(join(release, f)).isFile(), f).toBe(true);
    }
  });
  it('loads koffi and better-sqlite3 from its own node_modules with the host node', async () => {
    const probe =
      "const k=(await import('koffi')).default; const D=(await import('better-sqlite3')).default; const db=new D(':memory:'); console.log(typeof k.load, db.prepare('select 41+1 as x').get().x);";
    await writeFile(join(release, 'probe.mjs'), probe);
    try {
      const { stdout } = await run(process.execPath, [join(release, 'probe.mjs')], { cwd: tmp });
      expect(stdout.trim()).toBe('function 42');
    } finally {
      await rm(join(release, 'probe.mjs'));
    }
  });
});

describe('install-agent.sh with DESTDIR', () => {
  it('installs the tree, config and hardened unit without starting or enabling anything; re-running changes nothing', async () => {
    const root = await freshRoot('agent');
    const ca = join(tmp, 'ca.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=test-ca',
      '-keyout',
      join(tmp, 'ca.key'),
      '-out',
      ca,
    ]);
    const r = await install('install-agent.sh', root, [
      '--collector-url',
      'wss://collector.example:8443',
      '--ca-file',
      ca,
      '--enroll-token',
      'tok_0123456789abcdef',
      '--node-id',
      'gpu-017',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/nothing started, enabled or contacted/);
    expect(JSON.parse(readFileSync(join(root, 'etc/nodeseal/agent.json'), 'utf8'))).toEqual({
      stateDir: '/var/lib/nodeseal/agent',
      collector: 'wss://collector.example:8443',
      caFile: '/etc/nodeseal/collector-ca.pem',
      nodeId: 'gpu-017',
    });
    expect(readFileSync(join(root, 'etc/nodeseal/agent.env'), 'utf8')).toMatch(/^NODESEAL_ENROLL_TOKEN=tok_0123456789abcdef$/m);
    expect(statSync(join(root, 'etc/nodeseal/agent.env')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'etc/nodeseal/agent.json')).mode & 0o777).toBe(0o640);
    expect(readFileSync(join(root, 'etc/nodeseal/collector-ca.pem'), 'utf8')).toBe(readFileSync(ca, 'utf8'));
    const unit = readFileSync(join(root, 'etc/systemd/system/nodeseal-agent.service'), 'utf8');
    expect(unit).not.toMatch(/@NODE@|@PREFIX@/);
    expect(unit).toMatch(/^ExecStart=\/\S*node \/opt\/nodeseal\/nodeseal\.mjs agent /m);
    for (const line of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'ReadWritePaths=/var/lib/nodeseal/agent',
      'DeviceAllow=/dev/tpmrm0 rw',
      'SupplementaryGroups=tss',
      'CapabilityBoundingSet=',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(readlinkSync(join(root, 'usr/local/bin/nodeseal'))).toBe('/opt/nodeseal/bin/nodeseal');
    expect(statSync(join(root, 'opt/nodeseal/nodeseal.mjs')).isFile()).toBe(true);
    expect(statSync(join(root, 'var/lib/nodeseal/agent')).isDirectory()).toBe(true);
    // Nothing enabled: no wants symlinks.
    expect(Object.keys(snapshot(root)).filter((p) => p.includes('.wants/'))).toEqual([]);

    const before = snapshot(root);
    const again = await install('install-agent.sh', root, [
      '--collector-url',
      'wss://collector.example:8443',
      '--ca-file',
      ca,
      '--enroll-token',
      'tok_0123456789abcdef',
      '--node-id',
      'gpu-017',
    ]);
    expect(again.code).toBe(0);
    expect(snapshot(root)).toEqual(before);
    // Re-running without --collector-url keeps the configured one.
    expect((await install('install-agent.sh', root, [])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'etc/nodeseal/agent.json'), 'utf8')).collector).toBe('wss://collector.example:8443');
  });

  it('accepts a list of collectors (comma-separated and repeated) and writes it as a list', async () => {
    const root = await freshRoot('agent-list');
    const r = await install('install-agent.sh', root, [
      '--collector-url',
      'wss://c1.example:8443,wss://c2.example:8443',
      '--collector-url',
      'wss://c3.example:8443',
      '--skip-check',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'etc/nodeseal/agent.json'), 'utf8')).collector).toEqual([
      'wss://c1.example:8443',
      'wss://c2.example:8443',
      'wss://c3.example:8443',
    ]);
  });

  it.each([
    ['no collector URL', [], /--collector-url is required/],
    ['http URL', ['--collector-url', 'https://c.example:8443'], /must start with wss:\/\//],
    ['plain ws to a remote host', ['--collector-url', 'ws://c.example:8443'], /only allowed to a loopback/],
    ['URL with a path', ['--collector-url', 'wss://c.example:8443/v1/agent'], /base URL only/],
    [
      'a bad URL in a list',
      ['--collector-url', 'wss://c1.example:8443,https://c2.example'],
      /https:\/\/c2\.example: the collector URL must start/,
    ],
    ['unreadable CA file', ['--collector-url', 'wss://c.example', '--ca-file', '/nonexistent/ca.pem'], /cannot read --ca-file/],
    ['CA file that is not PEM', ['--collector-url', 'wss://c.example', '--ca-file', '/etc/hostname'], /not a PEM certificate/],
    ['malformed enrolment token', ['--collector-url', 'wss://c.example', '--enroll-token', 'has space'], /enrolment token/],
    ['bad node id', ['--collector-url', 'wss://c.example', '--node-id', 'a/b'], /--node-id/],
    ['unknown option', ['--frobnicate'], /unknown option/],
  ])('rejects %s with exit 2 before writing anything', async (_name, args, message) => {
    const root = await freshRoot(`bad-${Math.random().toString(36).slice(2)}`);
    const r = await install('install-agent.sh', root, args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('install-collector.sh with DESTDIR', () => {
  it('installs with TLS, refuses a mismatched key and plain listening on a public address', async () => {
    const root = await freshRoot('collector-tls');
    const crt = join(tmp, 'c.crt');
    const key = join(tmp, 'c.key');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=collector',
      '-keyout',
      key,
      '-out',
      crt,
    ]);
    expect((await install('install-collector.sh', root, ['--listen', '0.0.0.0:8443'])).code).toBe(2);
    const wrong = await install('install-collector.sh', root, [
      '--listen',
      '0.0.0.0:8443',
      '--tls-cert',
      crt,
      '--tls-key',
      join(tmp, 'ca.key'),
    ]);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/does not belong/);
    expect(readdirSync(root)).toEqual([]);
    const ok = await install('install-collector.sh', root, ['--listen', '0.0.0.0:8443', '--tls-cert', crt, '--tls-key', key]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'etc/nodeseal/collector.json'), 'utf8'))).toEqual({
      db: '/var/lib/nodeseal/collector/collector.db',
      listen: '0.0.0.0:8443',
      tlsCert: '/etc/nodeseal/tls/collector.crt',
      tlsKey: '/etc/nodeseal/tls/collector.key',
    });
    expect(statSync(join(root, 'etc/nodeseal/tls/collector.key')).mode & 0o777).toBe(0o640);
    // Re-run adding enrolment settings: kept in the root-only environment file, TLS settings kept.
    const ekDir = join(tmp, 'ek-ca');
    await mkdir(ekDir, { recursive: true });
    await writeFile(join(ekDir, 'vendor.pem'), readFileSync(crt));
    expect(
      (
        await install('install-collector.sh', root, [
          '--ek-ca-dir',
          ekDir,
          '--allow-tofu',
          '--postgres',
          'postgresql:///fleet?host=/run/postgresql',
        ])
      ).code,
    ).toBe(0);
    expect(
      readFileSync(join(root, 'etc/nodeseal/collector.env'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#')),
    ).toEqual([
      'NODESEAL_POSTGRES_URL=postgresql:///fleet?host=/run/postgresql',
      'NODESEAL_EK_CA_DIR=/etc/nodeseal/ek-ca',
      'NODESEAL_ALLOW_TOFU=1',
    ]);
    expect(statSync(join(root, 'etc/nodeseal/collector.env')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, 'etc/nodeseal/ek-ca/vendor.pem'), 'utf8')).toBe(readFileSync(crt, 'utf8'));
    expect(JSON.parse(readFileSync(join(root, 'etc/nodeseal/collector.json'), 'utf8')).tlsCert).toBe('/etc/nodeseal/tls/collector.crt');
  });
});

describe('unit hardening, measured by systemd-analyze security --offline=true', () => {
  it('agent ≤ 5.0 and collector ≤ 3.5', async () => {
    const root = await freshRoot('score');
    expect((await install('install-agent.sh', root, ['--collector-url', 'wss://c.example:8443'])).code).toBe(0);
    expect((await install('install-collector.sh', root, [])).code).toBe(0);
    const agent = await exposure(join(root, 'etc/systemd/system/nodeseal-agent.service'));
    const collector = await exposure(join(root, 'etc/systemd/system/nodeseal-collector.service'));
    process.stdout.write(
      `systemd-analyze security --offline=true: nodeseal-agent.service ${agent} (goal ≤ 5.0), nodeseal-collector.service ${collector} (goal ≤ 3.5)\n`,
    );
    expect(agent).toBeLessThanOrEqual(5.0);
    expect(collector).toBeLessThanOrEqual(3.5);
  });
});

describe('installed release, agent and collector against each other on loopback', () => {
  let swtpm: Swtpm;
  beforeAll(async () => {
    swtpm = await startSwtpm();
  }, 60_000);
  afterAll(async () => {
    await swtpm?.stop();
  });

  it('the agent (real software TPM, recorded 8-GPU host) reports to the collector; uninstall leaves only state', async () => {
    const root = await freshRoot('pair');
    expect((await install('install-collector.sh', root, [])).code).toBe(0);
    expect((await install('install-agent.sh', root, ['--collector-url', 'ws://127.0.0.1:8443', '--node-id', 'gpu8'])).code).toBe(0);
    const cli = join(root, 'opt/nodeseal/bin/nodeseal');
    const db = join(tmp, 'pair-collector.db');

    const collector = spawn(
      cli,
      [
        'collector',
        '--config',
        join(root, 'etc/nodeseal/collector.json'),
        '--listen',
        '127.0.0.1:0',
        '--db',
        db,
        '--allow-tofu',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(collector);
    let cerr = '';
    collector.stderr!.on('data', (d: Buffer) => (cerr += d.toString()));
    const port = await new Promise<number>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`collector did not start: ${cerr}`)), 20_000);
      collector.stderr!.on('data', () => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(cerr);
        if (m) {
          clearTimeout(t);
          res(Number(m[1]));
        }
      });
    });

    const agentState = join(tmp, 'pair-agent-state');
    const agent = spawn(
      cli,
      [
        'agent',
        '--config',
        join(root, 'etc/nodeseal/agent.json'),
        '--collector',
        `ws://127.0.0.1:${port}`,
        '--state-dir',
        agentState,
        '--tcti',
        swtpm.tcti,
        '--root',
        join(REPO, 'test/fixtures/hosts/gpu8'),
        '--interval',
        '1',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(agent);
    let aerr = '';
    agent.stderr!.on('data', (d: Buffer) => (aerr += d.toString()));

    const { stdout: tokenJson } = await run(cli, [
      'collector',
      'token',
      'create',
      '--role',
      'viewer',
      '--name',
      'install-test',
      '--db',
      db,
      '--json',
    ]);
    const token = (JSON.parse(tokenJson) as { token: string }).token;
    let node: { nodeId: string; status: string; summary?: { gpuCount?: number } } | undefined;
    for (let i = 0; i < 40 && !node?.summary?.gpuCount; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const { stdout } = await run(cli, ['nodes', '--json', '--url', `http://127.0.0.1:${port}`, '--token', token]).catch(
        (e: { stdout: string }) => ({ stdout: e.stdout }),
      );
      node = (JSON.parse(stdout || '{"nodes":[]}') as { nodes: (typeof node)[] }).nodes.find((n) => n?.nodeId === 'gpu8');
    }
    expect(node, `agent stderr: ${aerr}\ncollector stderr: ${cerr}`).toBeDefined();
    expect(node!.summary?.gpuCount).toBe(8);
    expect(['trusted', 'unknown', 'untrusted']).toContain(node!.status);

    agent.kill('SIGTERM');
    collector.kill('SIGTERM');
    await Promise.all([new Promise((r) => agent.once('exit', r)), new Promise((r) => collector.once('exit', r))]);

    // Uninstall: the agent first (the collector still needs /opt/nodeseal), then the collector.
    await writeFile(join(root, 'var/lib/nodeseal/agent/identity.jwk'), '{}');
    await writeFile(join(root, 'var/lib/nodeseal/collector/collector.db'), 'db');
    expect((await install('install-agent.sh', root, ['--uninstall'])).code).toBe(0);
    expect(statSync(join(root, 'opt/nodeseal/nodeseal.mjs')).isFile()).toBe(true);
    expect((await install('install-collector.sh', root, ['--uninstall'])).code).toBe(0);
    expect(Object.keys(snapshot(root)).sort()).toEqual(['var/lib/nodeseal/agent/identity.jwk', 'var/lib/nodeseal/collector/collector.db']);
    expect((await install('install-agent.sh', root, ['--uninstall', '--purge'])).code).toBe(0);
    expect((await install('install-collector.sh', root, ['--uninstall', '--purge'])).code).toBe(0);
    expect(snapshot(root)).toEqual({});
  }, 120_000);
});
