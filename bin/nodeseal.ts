#!/usr/bin/env node
import { isNodesealError, UserError } from '../shared/src/errors.js';
import { processIo, type Verb } from '../shared/src/cli/verb.js';

/**
 * The `nodeseal` command. Each verb is its own module, loaded only when used so that
 * `nodeseal inventory` never loads the collector's database drivers and vice versa.
 * Multi-word verbs ("tpm quote", "inspect eventlog") are looked up longest first.
 */
const verbs: Record<string, () => Promise<{ default: Verb }>> = {
  receipt: () => import('../collector/src/cli/receipt.js'),
  'receipt verify': () => import('../collector/src/cli/receipt-verify.js'),
  'k8s-sync': () => import('../collector/src/cli/k8s-sync.js'),
  // verbs are registered here, one line each, e.g.:
  // inventory: () => import('../agent/src/cli/inventory.js'),
  inventory: () => import('../agent/src/cli/inventory.js'),
  agent: () => import('../agent/src/cli/agent.js'),
  collector: () => import('../collector/src/cli/collector.js'),
  'inspect nvidia-smi': () => import('../agent/src/cli/inspect-nvidia-smi.js'),
  'inspect eventlog': () => import('../collector/src/cli/inspect-eventlog.js'),
  'inspect quote': () => import('../collector/src/cli/inspect-quote.js'),
  dump: () => import('../agent/src/cli/dump.js'),
  'tpm pcrs': () => import('../agent/src/cli/tpm-pcrs.js'),
  'tpm quote': () => import('../agent/src/cli/tpm-quote.js'),
  nodes: () => import('../collector/src/cli/nodes.js'),
  node: () => import('../collector/src/cli/node.js'),
  changes: () => import('../collector/src/cli/changes.js'),
  approve: () => import('../collector/src/cli/approve.js'),
  attest: () => import('../collector/src/cli/attest.js'),
  'collector token': () => import('../collector/src/cli/token.js'),
  'collector enroll-token': () => import('../collector/src/cli/enroll-token.js'),
  'config check': () => import('./config-check.js'),
};

function help(): string {
  const names = Object.keys(verbs).sort();
  return [
    'nodeseal: attestation of GPU training nodes (agent, collector and operator tools)',
    '',
    'Usage: nodeseal <verb> [flags]     nodeseal <verb> --help',
    '',
    'Verbs:',
    ...names.map((n) => `  ${n}`),
    '',
    'Environment: NODESEAL_URL, NODESEAL_TOKEN (collector API), NODESEAL_* config overrides.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const io = processIo();
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(help() + '\n');
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
    io.stderr(`nodeseal: unknown verb '${argv[0]}' (ERR_USAGE). Run 'nodeseal --help'.\n`);
    return 2;
  }
  const verb = (await verbs[name]!()).default;
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
