import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setGpuField } from '../../helpers/hosts.js';
import { startFleet, type Fleet } from '../dashboard/harness.js';

const ROOT = resolve(import.meta.dirname, '../../..');

/** Runs `nodeseal ARGS` as a real process (async: the collector lives in this process). */
function nodeseal(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bin/nodeseal.ts', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

describe('operator CLI verbs against a live collector', () => {
  let fleet: Fleet;
  let env: Record<string, string>;
  beforeAll(async () => {
    fleet = await startFleet([
      { id: 'gpu-a', host: 'gpu8' },
      { id: 'gpu-b', host: 'gpu8' },
    ]);
    env = { NODESEAL_URL: fleet.collector.url, NODESEAL_TOKEN: fleet.operator };
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('nodes: --json for scripts, a table for people, --status filters', async () => {
    const [json, text] = await Promise.all([nodeseal(['nodes', '--json'], env), nodeseal(['nodes'], env)]);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as {
      nodes: Array<{ nodeId: string; status: string; summary: { gpuCount: number } }>;
      total: number;
    };
    expect(body.nodes.map((n) => [n.nodeId, n.status, n.summary.gpuCount])).toEqual([
      ['gpu-a', 'trusted', 8],
      ['gpu-b', 'trusted', 8],
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^NODE\s+STATUS\s+VERIFIED\s+GPUS\s+GPU MODEL\s+DRIVER\s+BIOS\s+REASONS$/);
    expect(text.stdout).toMatch(/gpu-a\s+trusted\s+\S+ ago\s+8\s+Tesla V100S-PCIE-32GB\s+460\.73\.01/);
    expect(text.stdout).toContain('2 of 2 node(s) shown: 2 trusted, 0 untrusted');
  });

  it('node, changes, attest and approve follow a drift and its approval, with exit codes', async () => {
    expect((await nodeseal(['node', 'gpu-b'], env)).code).toBe(0);
    await setGpuField(fleet.nodes.get('gpu-b')!.root, 3, 'serial', 'SWAPPED-0001');
    const attest = await nodeseal(['attest', 'gpu-b', '--wait', '5', '--json'], env);
    expect(attest.code).toBe(1);
    expect(JSON.parse(attest.stdout)).toMatchObject({ nodeId: 'gpu-b', status: 'untrusted' });
    expect(JSON.stringify(JSON.parse(attest.stdout).reasons)).toContain('gpu.');

    const [node, nodeJson, changes, untrusted] = await Promise.all([
      nodeseal(['node', 'gpu-b'], env),
      nodeseal(['node', 'gpu-b', '--json'], env),
      nodeseal(['changes', 'gpu-b', '--json'], env),
      nodeseal(['nodes', '--status', 'untrusted', '--json'], env),
    ]);
    expect(node.code).toBe(1);
    expect(node.stdout).toMatch(/^status\s+UNTRUSTED$/m);
    expect(node.stdout).toMatch(/Reasons:\nCODE\s+CLAIM\s+DETAIL\ngpu\./);
    expect(nodeJson.code).toBe(1);
    expect(JSON.parse(nodeJson.stdout).node.status).toBe('untrusted');
    expect(changes.code).toBe(0);
    const list = JSON.parse(changes.stdout).changes as Array<{ code: string; before: unknown; after: unknown }>;
    expect(list.length).toBeGreaterThan(0);
    expect(JSON.stringify(list)).toContain('SWAPPED-0001');
    expect(JSON.parse(untrusted.stdout).nodes.map((n: { nodeId: string }) => n.nodeId)).toEqual(['gpu-b']);
    // The summary under a filtered table counts the matching rows, and the fleet by status.
    const [untrustedText, trustedText] = await Promise.all([
      nodeseal(['nodes', '--status', 'untrusted'], env),
      nodeseal(['nodes', '--status', 'stale'], env),
    ]);
    expect(untrustedText.stdout).toMatch(
      /\n1 of 1 node\(s\) matching --status untrusted shown; fleet: 2 node\(s\): 1 trusted, 1 untrusted, 0 unknown, 0 stale\n$/,
    );
    expect(trustedText.stdout).toMatch(
      /\n0 of 0 node\(s\) matching --status stale shown; fleet: 2 node\(s\): 1 trusted, 1 untrusted, 0 unknown, 0 stale\n$/,
    );

    const [noReason, asViewer] = await Promise.all([
      nodeseal(['approve', 'gpu-b'], env),
      nodeseal(['approve', 'gpu-b', '--reason', 'x'], { ...env, NODESEAL_TOKEN: fleet.viewer }),
    ]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/--reason is required .*\(ERR_USAGE\)/);
    expect(asViewer.code).toBe(4);
    expect(asViewer.stderr).toMatch(/not allowed: .*needs the operator role.*\(ERR_AUTH_FORBIDDEN\)/);

    const approve = await nodeseal(['approve', 'gpu-b', '--reason', 'GPU 3 replaced under RMA 77'], env);
    expect(approve.stderr).toBe('');
    const seen = JSON.parse(nodeJson.stdout).node.summary as { inventoryDigest: string; pcrDigest: string };
    expect(approve.stdout).toContain(`  inventory  ${seen.inventoryDigest}\n  pcrs       ${seen.pcrDigest}\n  reasons    gpu.`);
    expect(approve.stdout).toMatch(/\napproved gpu-b \(now trusted\): GPU 3 replaced under RMA 77\n$/);
    expect(approve.code).toBe(0);
    const after = await nodeseal(['attest', 'gpu-b', '--wait', '5'], env);
    expect(after.stdout).toMatch(/^gpu-b: TRUSTED$/m);
    expect(after.code).toBe(0);
  });

  it('approve sends the digests it read: a state reported between the read and the approve is refused (409), the baseline unchanged', async () => {
    const api = (path: string) =>
      fetch(`${fleet.collector.url}${path}`, { headers: { authorization: `Bearer ${fleet.operator}` } }).then(
        (r) =>
          r.json() as Promise<{
            baseline: { inventoryDigest: string; pcrDigest: string };
            summary: { inventoryDigest: string; pcrDigest: string };
          }>,
      );
    const before = await api('/v1/nodes/gpu-a');
    // A pass-through proxy to the real collector that makes the node drift when the approve arrives,
    // after the CLI has read (and printed) the node.
    let drifted = 0;
    const proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          if (req.method === 'POST' && req.url?.endsWith('/approve')) {
            drifted++;
            await setGpuField(fleet.nodes.get('gpu-a')!.root, 5, 'serial', `SWAPPED-A-${drifted}`);
            await fleet.attest('gpu-a');
          }
          const headers = Object.fromEntries(
            Object.entries(req.headers).filter(([k]) => ['authorization', 'content-type', 'accept'].includes(k)) as Array<[string, string]>,
          );
          const up = await fetch(`${fleet.collector.url}${req.url}`, {
            method: req.method!,
            headers,
            ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
          });
          res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await up.arrayBuffer()));
        })();
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const out = await nodeseal(['approve', 'gpu-a', '--reason', 'looked fine'], { ...env, NODESEAL_URL: url });
      expect(drifted).toBe(1);
      expect(out.stdout).toContain(`  inventory  ${before.summary.inventoryDigest}\n`);
      expect(out.stderr).toBe(
        'nodeseal approve: gpu-a reported another state than the one shown above; nothing was approved, review it again (ERR_APPROVE_STATE_CHANGED)\n',
      );
      expect(out.code).toBe(1);
      const after = await api('/v1/nodes/gpu-a');
      expect(after.summary.inventoryDigest).not.toBe(before.summary.inventoryDigest);
      expect(after.baseline).toEqual(before.baseline);

      // A script pins what a person reviewed: the state read before the drift is refused, the current one approved.
      const [stale, badFlag] = await Promise.all([
        nodeseal(
          [
            'approve',
            'gpu-a',
            '--reason',
            'reviewed',
            '--inventory-digest',
            before.summary.inventoryDigest,
            '--pcr-digest',
            before.summary.pcrDigest,
            '--json',
          ],
          env,
        ),
        nodeseal(['approve', 'gpu-a', '--reason', 'reviewed', '--inventory-digest', 'abc'], env),
      ]);
      expect(stale.code).toBe(1);
      expect(stale.stderr).toContain('(ERR_APPROVE_STATE_CHANGED)');
      expect(badFlag.code).toBe(2);
      expect(badFlag.stderr).toContain('--inventory-digest must be sha256:');
      expect((await api('/v1/nodes/gpu-a')).baseline).toEqual(before.baseline);
      const ok = await nodeseal(
        [
          'approve',
          'gpu-a',
          '--reason',
          'GPU 5 replaced',
          '--inventory-digest',
          after.summary.inventoryDigest,
          '--pcr-digest',
          after.summary.pcrDigest,
          '--json',
        ],
        env,
      );
      expect(ok.stderr).toBe('');
      expect(JSON.parse(ok.stdout)).toMatchObject({ nodeId: 'gpu-a', status: 'trusted', inventoryDigest: after.summary.inventoryDigest });
      expect((await api('/v1/nodes/gpu-a')).baseline.inventoryDigest).toBe(after.summary.inventoryDigest);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('maps failures to documented exit codes: usage 2, unreachable 3, auth 4, no such node 5', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const results = await Promise.all([
      nodeseal(['nodes'], {}),
      nodeseal(['nodes', '--status', 'weird'], env),
      nodeseal(['nodes', '--url', `http://127.0.0.1:${closedPort}`], { NODESEAL_TOKEN: fleet.operator }),
      nodeseal(['nodes'], { ...env, NODESEAL_TOKEN: 'forged' }),
      nodeseal(['node', 'no-such-node'], env),
      nodeseal(['node', '../etc'], env),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 3, 4, 5, 2]);
    expect(results[0]!.stderr).toContain('no collector URL: give --url or set NODESEAL_URL (ERR_USAGE)');
    expect(results[2]!.stderr).toMatch(/cannot reach the collector at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(ERR_CLI_UNREACHABLE\)/);
    expect(results[3]!.stderr).toMatch(/not authenticated: .*\(ERR_AUTH_INVALID\)/);
    expect(results[4]!.stderr).toContain('(ERR_NODE_NOT_FOUND)');
    expect(results[5]!.stderr).toContain('not a node id');
  });

  it('takes several collector URLs and moves past a dead one (GET and POST), from flags or NODESEAL_URL', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    const [nodes, attest, none] = await Promise.all([
      nodeseal(['nodes', '--json', '--url', dead, '--url', fleet.collector.url], { NODESEAL_TOKEN: fleet.operator }),
      // POST: a refused connection cannot have reached the collector, so the next one is asked.
      nodeseal(['attest', 'gpu-a', '--wait', '5', '--json'], { ...env, NODESEAL_URL: `${dead},${fleet.collector.url}` }),
      nodeseal(['nodes'], { ...env, NODESEAL_URL: `${dead},${dead.replace('127.0.0.1', 'nodeseal-no-such-host.invalid')}` }),
    ]);
    expect(nodes.code).toBe(0);
    expect(JSON.parse(nodes.stdout).total).toBe(2);
    expect(attest.code).toBe(0);
    expect(JSON.parse(attest.stdout)).toMatchObject({ nodeId: 'gpu-a', status: 'trusted' });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(
      /cannot reach any collector: http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED; http:\/\/nodeseal-no-such-host\.invalid:\d+: (ENOTFOUND|EAI_AGAIN) \(ERR_CLI_UNREACHABLE\)/,
    );
  });

  it('reads URL and token file from the CLI config when no flag or environment gives them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodeseal-cli-'));
    try {
      writeFileSync(join(dir, 'token'), `${fleet.operator}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'cli.json'), JSON.stringify({ url: fleet.collector.url, tokenFile: join(dir, 'token') }));
      const ok = await nodeseal(['nodes', '--json'], { NODESEAL_CLI_CONFIG: join(dir, 'cli.json') });
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout).total).toBe(2);
      // Flags win over the file.
      const flag = await nodeseal(['nodes', '--token', 'forged'], { NODESEAL_CLI_CONFIG: join(dir, 'cli.json') });
      expect(flag.code).toBe(4);
      writeFileSync(join(dir, 'cli.json'), '{"url": 42}');
      const bad = await nodeseal(['nodes'], { NODESEAL_CLI_CONFIG: join(dir, 'cli.json') });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('url must be a string (ERR_USAGE)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has --help that names the flags and exit codes', async () => {
    const help = await nodeseal(['attest', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('nodeseal attest ID [--wait SEC] [--json]');
    expect(help.stdout).toContain('Exit: 0 ok/trusted, 1 not trusted or refused, 2 usage, 3 unreachable, 4 auth, 5 no such node.');
  });
});
