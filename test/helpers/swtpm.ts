import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/**
 * A real software TPM (swtpm) for tests: one instance per test file/worker, since swtpm serves
 * one client at a time. The tpm2-tss swtpm TCTI talks to `port` and uses `port + 1` for control,
 * so two consecutive free ports are taken. Fails loudly when swtpm is not installed.
 */
export interface Swtpm {
  port: number;
  /** TCTI string for tpm2-tss / our agent: `swtpm:host=127.0.0.1,port=N`. */
  tcti: string;
  stateDir: string;
  /** Environment for tpm2-tools commands (TPM2TOOLS_TCTI). */
  env: NodeJS.ProcessEnv;
  /** Runs a tpm2-tools command against this TPM and returns stdout. */
  tools(cmd: string, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function twoFreePorts(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20000 + 2 * Math.floor(Math.random() * 10000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error('swtpm helper: no two consecutive free ports');
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`swtpm exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`swtpm did not listen on ${port} within ${timeoutMs} ms`);
}

export async function startSwtpm(opts: { ekCert?: boolean } = {}): Promise<Swtpm> {
  const stateDir = await mkdtemp(join(tmpdir(), 'nodeseal-swtpm-'));
  if (opts.ekCert) {
    // Creates the EK and an EK certificate signed by swtpm's local CA (/var/lib/swtpm-localca).
    await execFileP('swtpm_setup', [
      '--tpm2',
      '--tpmstate',
      stateDir,
      '--create-ek-cert',
      '--create-platform-cert',
      '--overwrite',
      '--display',
    ]);
  }
  const port = await twoFreePorts();
  const proc = spawn(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--tpmstate',
      `dir=${stateDir}`,
      '--server',
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl',
      `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--flags',
      'not-need-init,startup-clear',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const spawnError = new Promise<never>((_, reject) =>
    proc.once('error', (e) => reject(new Error(`cannot start swtpm (is it installed? scripts/test-deps.sh): ${e.message}`))),
  );
  await Promise.race([waitForPort(port, proc), spawnError]).catch((e: Error) => {
    throw new Error(`${e.message}\n${stderr}`);
  });
  const tcti = `swtpm:host=127.0.0.1,port=${port}`;
  const env = { ...process.env, TPM2TOOLS_TCTI: tcti };
  return {
    port,
    tcti,
    stateDir,
    env,
    async tools(cmd, args) {
      const { stdout } = await execFileP(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 });
      return stdout;
    },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a tpm2-tools command, then flushes transient objects and sessions: swtpm has no resource
 * manager, so what one tool leaves loaded would fill the TPM's slots for the next.
 */
export async function toolsFlushed(tpm: Swtpm, cmd: string, args: string[]): Promise<string> {
  const out = await tpm.tools(cmd, args);
  await tpm.tools('tpm2_flushcontext', ['-t']);
  await tpm.tools('tpm2_flushcontext', ['-s']);
  return out;
}
