#!/usr/bin/env node
import { isNodesealError, UserError } from '../shared/src/errors.js';
import { processIo, type Verb } from '../shared/src/cli/verb.js';

/**
 * The `nodeseal` command. Each verb is its own module, loaded only when used so that
 * `nodeseal inventory` never loads the collector's database drivers and vice versa.
 * Multi-word verbs ("tpm quote", "inspect eventlog") are looked up longest first.
 */
type Entry = { group: string; summary: string; load: () => Promise<{ default: Verb }> };

/** Verbs, one line each: the summary shown by `nodeseal --help` (the verb module has the full usage). */
const verbs: Record<string, Entry> = {
  agent: {
    group: 'Agent (on each training node)',
    summary: 'run the attestation agent (streams signed reports to the collector)',
    load: () => import('../agent/src/cli/agent.js'),
  },
  inventory: {
    group: 'Agent (on each training node)',
    summary: "collect this host's hardware and firmware inventory and its digest",
    load: () => import('../agent/src/cli/inventory.js'),
  },
  dump: {
    group: 'Agent (on each training node)',
    summary: 'record every raw output the agent reads, replayable with --root',
    load: () => import('../agent/src/cli/dump.js'),
  },
  'tpm pcrs': {
    group: 'Agent (on each training node)',
    summary: "read every PCR of every active bank of this host's TPM",
    load: () => import('../agent/src/cli/tpm-pcrs.js'),
  },
  'tpm quote': {
    group: 'Agent (on each training node)',
    summary: 'quote PCRs over a nonce with the attestation key',
    load: () => import('../agent/src/cli/tpm-quote.js'),
  },
  collector: {
    group: 'Collector',
    summary: 'run the collector (agents WebSocket, HTTP API, dashboard, metrics)',
    load: () => import('../collector/src/cli/collector.js'),
  },
  'collector token': {
    group: 'Collector',
    summary: 'create, list or revoke API tokens (printed once, stored hashed)',
    load: () => import('../collector/src/cli/token.js'),
  },
  'collector enroll-token': {
    group: 'Collector',
    summary: 'create or list one-time enrolment tokens for new nodes',
    load: () => import('../collector/src/cli/enroll-token.js'),
  },
  'config check': {
    group: 'Collector',
    summary: 'validate an agent or collector config file, listing every problem',
    load: () => import('./config-check.js'),
  },
  nodes: {
    group: 'Operators (talk to the collector API)',
    summary: 'list nodes with their trust status',
    load: () => import('../collector/src/cli/nodes.js'),
  },
  node: {
    group: 'Operators (talk to the collector API)',
    summary: 'show one node; exit 0 only when trusted',
    load: () => import('../collector/src/cli/node.js'),
  },
  changes: {
    group: 'Operators (talk to the collector API)',
    summary: "list a node's detected changes with before and after",
    load: () => import('../collector/src/cli/changes.js'),
  },
  approve: {
    group: 'Operators (talk to the collector API)',
    summary: "approve a node's current verified state as its baseline",
    load: () => import('../collector/src/cli/approve.js'),
  },
  attest: {
    group: 'Operators (talk to the collector API)',
    summary: 'ask a node for fresh evidence now, optionally wait for the verdict',
    load: () => import('../collector/src/cli/attest.js'),
  },
  receipt: {
    group: 'Schedulers',
    summary: 'get a signed receipt of the verified state of the nodes a job uses',
    load: () => import('../collector/src/cli/receipt.js'),
  },
  'receipt verify': {
    group: 'Schedulers',
    summary: "check a job receipt's signature and show each node's state",
    load: () => import('../collector/src/cli/receipt-verify.js'),
  },
  'k8s-sync': {
    group: 'Schedulers',
    summary: 'label and taint Kubernetes nodes by their trust',
    load: () => import('../collector/src/cli/k8s-sync.js'),
  },
  'inspect eventlog': {
    group: 'Offline inspection',
    summary: 'parse a TCG event log and print events and replayed PCRs',
    load: () => import('../collector/src/cli/inspect-eventlog.js'),
  },
  'inspect quote': {
    group: 'Offline inspection',
    summary: 'verify a saved TPM quote (signature, nonce, PCR digest, AK)',
    load: () => import('../collector/src/cli/inspect-quote.js'),
  },
  'inspect nvidia-smi': {
    group: 'Offline inspection',
    summary: 'parse a recorded `nvidia-smi -q -x` file as the agent would',
    load: () => import('../agent/src/cli/inspect-nvidia-smi.js'),
  },
};

function help(): string {
  const names = Object.keys(verbs);
  const groups = [...new Set(names.map((n) => verbs[n]!.group))];
  const width = Math.max(...names.map((n) => n.length));
  return [
    'nodeseal: attestation of GPU training nodes (agent, collector and operator tools)',
    '',
    'Usage: nodeseal <verb> [flags]     nodeseal <verb> --help',
    ...groups.flatMap((g) => [
      '',
      `${g}:`,
      ...names.filter((n) => verbs[n]!.group === g).map((n) => `  ${n.padEnd(width)}  ${verbs[n]!.summary}`),
    ]),
    '',
    'Environment: NODESEAL_URL, NODESEAL_TOKEN (collector API), NODESEAL_* config overrides.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const io = processIo();
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(`${help()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version') {
    io.stdout('nodeseal 0.1.0\n');
    return 0;
  }
  let name: string | undefined;
  for (let n = Math.min(3, argv.length); n >= 1 && !name; n--) {
    const candidate = argv.slice(0, n).join(' ');
    if (candidate in verbs) name = candidate;
  }
  if (!name) {
    const family = Object.keys(verbs).filter((v) => v.startsWith(`${argv[0]} `));
    if (family.length)
      io.stderr(
        `nodeseal: '${argv[0]}' needs a sub-verb: ${family.map((v) => `'nodeseal ${v}'`).join(', ')} (ERR_USAGE). Run 'nodeseal ${family[0]} --help'.\n`,
      );
    else io.stderr(`nodeseal: unknown verb '${argv[0]}' (ERR_USAGE). Run 'nodeseal --help'.\n`);
    return 2;
  }
  const verb = (await verbs[name]!.load()).default;
  const rest = argv.slice(name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`${verb.summary}\n\nUsage: ${verb.usage}\n`);
    return 0;
  }
  try {
    return await verb.run(rest, io);
  } catch (e) {
    if (e instanceof UserError) {
      io.stderr(`nodeseal ${name}: ${e.message} (${e.code})\n`);
      if (e.code === 'ERR_USAGE') io.stderr(`Usage: ${verb.usage}\n`);
      return 2;
    }
    if (isNodesealError(e)) {
      io.stderr(`nodeseal ${name}: ${e.message} (${e.code})\n`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`nodeseal: internal error (ERR_INTERNAL)\n${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 70;
  },
);
