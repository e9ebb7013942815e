import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { collectInventory } from '../inventory.js';
import { createHostPorts } from '../ports/host-ports.js';
import { parseTimeout, requireDirectory } from './args.js';
import { renderInventory } from './inventory-table.js';

const verb: Verb = {
  summary: "Collect this host's hardware and firmware inventory (or replay a recorded host) and print it with its digest.",
  usage: [
    'nodeseal inventory [--json] [--root DIR] [--timeout MS]',
    '',
    '  --json         print {inventory, inventoryDigest} as JSON',
    '  --root DIR     replay a host recorded by `nodeseal dump DIR` instead of reading this one',
    '  --timeout MS   per-command timeout in milliseconds (default 15000)',
    '',
    'Each source (gpu, platform, bmc, cpu, kernel, secureBoot, nics, hcas, disks, pci) reports',
    'ok, unavailable or error with a reason; a failing source never stops the others.',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { json: { type: 'boolean' }, root: { type: 'string' }, timeout: { type: 'string' } },
      true,
    );
    if (positionals.length) throw new UserError(ERR_USAGE, `unexpected argument '${positionals[0]}'`);
    const timeoutMs = parseTimeout(values.timeout);
    if (values.root !== undefined) await requireDirectory(values.root, '--root');
    const { inventory, inventoryDigest } = await collectInventory(createHostPorts({ root: values.root, timeoutMs }), { timeoutMs });
    io.stdout(values.json ? `${JSON.stringify({ inventory, inventoryDigest }, null, 2)}\n` : renderInventory(inventory, inventoryDigest));
    return 0;
  },
};

export default verb;
