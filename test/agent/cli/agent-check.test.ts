import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTpm } from '../../../agent/src/tpm/index.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';

/**
 * `nodeseal agent --check`, run as the real CLI: a real swtpm (with EK and EK certificate from
 * swtpm_setup) for the TPM-present case, a TCTI nobody listens on for the absent case, and the
 * recorded 8-GPU host from test/fixtures/hosts/gpu8 through --root.
 */
const REPO = resolve(import.meta.dirname, '../../..');
const GPU8 = join(REPO, 'test/fixtures/hosts/gpu8');
const TOKEN = `nse_${'A'.repeat(43)}`;
let tpm: Swtpm;
let dir: string;
let healthz: Server;
let collectorUrl: string;

interface Item {
  name: string;
  status: string;
  blocking: boolean;
  reason?: string;
  code?: string;
  detail?: Record<string, unknown>;
}
interface Report {
  canRun: boolean;
  nodeId: string;
  items: Item[];
}

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

async function check(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; report: Report; err: string }> {
  const r = await cli(['agent', '--check', '--json', ...args], env);
  let report: Report;
  try {
    report = JSON.parse(r.out) as Report;
  } catch {
    throw new Error(`agent --check printed no JSON (exit ${r.code}):\n${r.out}\n${r.err}`);
  }
  return { code: r.code, report, err: r.err };
}

const byName = (r: Report, name: string) => {
  const i = r.items.find((x) => x.name === name);
  if (!i) throw new Error(`no item ${name} in ${r.items.map((x) => x.name).join(', ')}`);
  return i;
};

beforeAll(async () => {
  tpm = await startSwtpm({ ekCert: true });
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-agent-check-'));
  healthz = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : 404;
    res.end('{}');
  });
  await new Promise<void>((r) => healthz.listen(0, '127.0.0.1', r));
  collectorUrl = `ws://127.0.0.1:${(healthz.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await tpm?.stop();
  await new Promise((r) => (healthz ? healthz.close(r) : r(undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('nodeseal agent --check', () => {
  it('with a TPM: reports the EK, its certificate and the missing AK without creating it; then the AK once made; GPUs of a recorded host', async () => {
    const args = ['--collector', collectorUrl, '--tcti', tpm.tcti, '--state-dir', join(dir, 'state'), '--root', GPU8, '--node-id', 'gpu8'];
    const first = await check(args);
    expect(first.code).toBe(0);
    expect(first.report.canRun).toBe(true);
    expect(byName(first.report, 'config')).toMatchObject({ status: 'ok', blocking: true });
    expect(byName(first.report, 'stateDir')).toMatchObject({ status: 'ok', blocking: true });
    expect(byName(first.report, 'collector')).toMatchObject({ status: 'ok' });
    expect(byName(first.report, 'tpm')).toMatchObject({ status: 'ok', blocking: false });
    expect(byName(first.report, 'tpm.pcrs').detail?.banks).toContain('sha256');
    expect(byName(first.report, 'tpm.ek')).toMatchObject({ status: 'ok', detail: { persistent: true } });
    // swtpm_setup wrote a DER certificate into NV: its size equals what tpm2_nvreadpublic reports.
    const nv = await tpm.tools('tpm2_nvreadpublic', ['0x1c00002']);
    const size = Number(/size:\s*(\d+)/.exec(nv)?.[1]);
    expect(byName(first.report, 'tpm.ekCert')).toMatchObject({ status: 'ok', detail: { bytes: size } });
    expect(byName(first.report, 'tpm.ak')).toMatchObject({ status: 'unavailable', code: 'ERR_TPM_AK_MISSING' });
    // The recorded host has eight GPUs in its nvidia-smi XML.
    const xml = readFileSync(join(GPU8, 'commands/nvidia-smi_-q_-x.stdout'), 'utf8');
    expect(byName(first.report, 'gpus')).toMatchObject({ status: 'ok', detail: { count: (xml.match(/<gpu id=/g) ?? []).length } });
    expect(byName(first.report, 'source.gpu').status).toBe('ok');
    for (const s of ['gpu', 'platform', 'bmc', 'cpu', 'kernel', 'secureBoot', 'nics', 'hcas', 'disks', 'pci'])
      expect(['ok', 'unavailable', 'error']).toContain(byName(first.report, `source.${s}`).status);

    // The check is read-only: still no AK after it ran. The agent's TPM port makes one; then it is ok.
    await expect(tpm.tools('tpm2_readpublic', ['-c', '0x81010002'])).rejects.toThrow();
    const t = await openTpm(tpm.tcti);
    await t.ensureAk();
    await t.close();
    const second = await check(args);
    expect(byName(second.report, 'tpm.ak')).toMatchObject({ status: 'ok', detail: { handle: '0x81010002' } });
  });

  it('without a TPM (nobody listening on the TCTI) the agent can still run: warnings only, text says why', async () => {
    const badTcti = `swtpm:host=127.0.0.1,port=${tpm.port + 7}`;
    const { code, report } = await check([
      '--collector',
      'ws://127.0.0.1:1',
      '--tcti',
      badTcti,
      '--state-dir',
      join(dir, 'state2'),
      '--root',
      GPU8,
    ]);
    expect(code).toBe(0);
    expect(report.canRun).toBe(true);
    expect(byName(report, 'tpm')).toMatchObject({ status: 'unavailable', code: 'ERR_TPM_UNAVAILABLE', blocking: false });
    expect(report.items.some((i) => i.name === 'tpm.ak')).toBe(false);
    expect(byName(report, 'collector')).toMatchObject({ status: 'unavailable', code: 'ERR_AGENT_CONNECT' });
    const text = await cli([
      'agent',
      '--check',
      '--collector',
      'ws://127.0.0.1:1',
      '--tcti',
      badTcti,
      '--state-dir',
      join(dir, 'state2'),
      '--root',
      GPU8,
    ]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^ {2}unavailable +tpm +TPM not reachable .*\(ERR_TPM_UNAVAILABLE\)$/m);
    expect(text.out).toMatch(/the agent can run \(\d+ warnings?/);
  });

  it("the enrolment token comes from NODESEAL_ENROLL_TOKEN (the installer's agent.env); with no TPM enrolment is flagged", async () => {
    const badTcti = `swtpm:host=127.0.0.1,port=${tpm.port + 7}`;
    const { code, report } = await check(
      ['--collector', 'ws://127.0.0.1:1', '--tcti', badTcti, '--state-dir', join(dir, 'state3'), '--root', GPU8],
      { NODESEAL_ENROLL_TOKEN: TOKEN },
    );
    expect(code).toBe(0);
    expect(byName(report, 'enrolment')).toMatchObject({ status: 'error', code: 'ERR_TPM_UNAVAILABLE' });
    // A malformed token in the environment is a configuration problem; the token never appears in the output.
    const bad = await cli(
      ['agent', '--check', '--collector', 'ws://127.0.0.1:1', '--tcti', 'none', '--state-dir', join(dir, 'state3'), '--root', GPU8],
      { NODESEAL_ENROLL_TOKEN: 'bad token with spaces' },
    );
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('enrolment token must be 8-512 characters');
    expect(bad.out).toContain('enrolment needs the TPM');
    expect(bad.out).not.toContain('bad token with spaces');
  });

  it('cannot run: every blocking problem listed (invalid collector URL, state dir under a file, --root not a directory); exit 1', async () => {
    const file = join(dir, 'plain-file');
    await writeFile(file, 'x');
    const { code, report } = await check([
      '--collector',
      'http://collector.example',
      '--tcti',
      'none',
      '--state-dir',
      join(file, 'state'),
      '--root',
      join(dir, 'no-such-host'),
    ]);
    expect(code).toBe(1);
    expect(report.canRun).toBe(false);
    const blocking = report.items.filter((i) => i.blocking && i.status !== 'ok');
    expect(blocking.map((i) => i.name).sort()).toEqual(['config', 'root', 'stateDir']);
    expect(byName(report, 'config')).toMatchObject({ code: 'ERR_CONFIG', reason: expect.stringContaining('wss://') });
    expect(byName(report, 'stateDir')).toMatchObject({ code: 'ERR_AGENT_STATE_DIR', reason: expect.stringContaining('not a directory') });
    expect(byName(report, 'tpm')).toMatchObject({ status: 'unavailable', code: 'ERR_AGENT_TPM_DISABLED' });
  });

  it('reads the config file named by NODESEAL_AGENT_CONFIG, as the installer calls it; unknown flags are usage errors', async () => {
    const cfg = join(dir, 'agent.json');
    await mkdir(join(dir, 'state4'));
    await writeFile(cfg, JSON.stringify({ collector: collectorUrl, stateDir: join(dir, 'state4'), tcti: 'none', root: GPU8, bogus: 1 }));
    const r = await check([], { NODESEAL_AGENT_CONFIG: cfg });
    expect(r.code).toBe(1);
    expect(byName(r.report, 'config').reason).toContain('unknown option "bogus"');
    const u = await cli(['agent', '--check', '--frobnicate']);
    expect(u.code).toBe(2);
    expect(u.err).toContain('ERR_USAGE');
  });
});
