import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execRunner, type CommandRunner } from '../../../collector/src/integrations/exec-runner.js';
import { freePort } from '../../helpers/net.js';

/**
 * A real single-host Slurm cluster for tests: munged with its own key and socket, slurmctld,
 * and one slurmd per fake node (`slurmd -N name`, each on its own port; Debian's build
 * supports several slurmd on one host this way), all in the foreground as child processes,
 * configured by a slurm.conf in a temp dir. Everything is stopped and removed by stop().
 */
export interface SlurmCluster {
  dir: string;
  conf: string;
  env: NodeJS.ProcessEnv;
  nodes: string[];
  runner: CommandRunner;
  /** `sinfo` state and reason of one node. */
  nodeState(name: string): Promise<{ state: string; reason: string }>;
  scontrol(...args: string[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startSlurm(nodes: string[], extraConf = ''): Promise<SlurmCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-slurm-'));
  const children: ChildProcess[] = [];
  const logs: Record<string, string> = {};
  const mungeDir = join(dir, 'munge');
  mkdirSync(mungeDir, { mode: 0o700 });
  for (const d of ['state', 'spool', 'log']) mkdirSync(join(dir, d));
  const key = join(mungeDir, 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  chmodSync(mungeDir, 0o711);
  const socket = join(mungeDir, 'munge.socket');
  const conf = join(dir, 'slurm.conf');
  const env = { ...process.env, SLURM_CONF: conf };

  const start = (name: string, cmd: string, args: string[]) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    logs[name] = '';
    const add = (b: Buffer) => {
      logs[name] = (logs[name]! + b.toString()).slice(-8000);
    };
    c.stdout!.on('data', add);
    c.stderr!.on('data', add);
    children.push(c);
    return c;
  };

  const stop = async () => {
    for (const c of [...children].reverse()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 3000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    start('munged', 'munged', [
      '-F',
      '-f',
      `--socket=${socket}`,
      `--key-file=${key}`,
      `--log-file=${join(dir, 'log', 'munged.log')}`,
      `--pid-file=${join(mungeDir, 'munged.pid')}`,
      `--seed-file=${join(mungeDir, 'seed')}`,
    ]);
    const ctldPort = await freePort();
    const nodePorts = await Promise.all(nodes.map(() => freePort()));
    const host = hostname().split('.')[0]!;
    writeFileSync(
      conf,
      [
        'ClusterName=nodeseal-test',
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmctldPort=${ctldPort}`,
        'AuthType=auth/munge',
        `AuthInfo=socket=${socket}`,
        'CredType=cred/munge',
        'SlurmUser=root',
        'SlurmdUser=root',
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool', '%n')}`,
        `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(dir, 'slurmd.%n.pid')}`,
        `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'log', 'slurmd.%n.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SchedulerType=sched/builtin',
        'SelectType=select/linear',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'MpiDefault=none',
        'ReturnToService=2',
        'SlurmdTimeout=30',
        extraConf,
        ...nodes.map((n, i) => `NodeName=${n} NodeHostname=localhost NodeAddr=127.0.0.1 Port=${nodePorts[i]} CPUs=1 State=UNKNOWN`),
        `PartitionName=debug Nodes=${nodes.join(',')} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    );
    await waitFor(
      async () => existsSync(socket),
      5000,
      () => `munged did not start: ${logs.munged}`,
    );
    start('slurmctld', 'slurmctld', ['-D', '-c', '-i']);
    for (const n of nodes) start(`slurmd.${n}`, 'slurmd', ['-D', '-N', n]);
    const runner = execRunner(env);
    const nodeState = async (name: string) => {
      const r = await runner.run(['sinfo', '-h', '-N', '-n', name, '-o', '%T|%E'], { timeoutMs: 10_000 });
      const line = r.stdout.split('\n')[0] ?? '';
      const bar = line.indexOf('|');
      return { state: line.slice(0, bar), reason: line.slice(bar + 1) };
    };
    await waitFor(
      async () => {
        const r = await runner.run(['sinfo', '-h', '-N', '-o', '%N %T'], { timeoutMs: 5000 }).catch(() => null);
        if (r?.exitCode !== 0) return false;
        const idle = r.stdout.split('\n').filter((l) => / idle$/.test(l)).length;
        return idle === nodes.length;
      },
      30_000,
      () =>
        `Slurm nodes did not become idle:\n${Object.entries(logs)
          .map(([k, v]) => `--- ${k}\n${v.slice(-1500)}`)
          .join('\n')}`,
    );
    return {
      dir,
      conf,
      env,
      nodes,
      runner,
      nodeState,
      async scontrol(...args: string[]) {
        const r = await runner.run(['scontrol', ...args], { timeoutMs: 10_000 });
        if (r.exitCode !== 0) throw new Error(`scontrol ${args.join(' ')}: ${r.stderr}`);
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function waitFor(pred: () => Promise<boolean>, timeoutMs: number, why: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(why());
}
