import { readFile } from 'node:fs/promises';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { parseNvidiaSmiXml } from '../collectors/nvidia-smi-xml.js';
import { gpuTable } from './inventory-table.js';

const verb: Verb = {
  summary: 'Parse a recorded `nvidia-smi -q -x` file and print the GPUs exactly as the agent would report them.',
  usage:
    "nodeseal inspect nvidia-smi FILE [--json]\n\n  --json   print the GPUs as JSON (the inventory's `gpus` array)\n\nRecord FILE on a GPU node with: nvidia-smi -q -x > FILE",
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, true);
    if (positionals.length !== 1) throw new UserError(ERR_USAGE, 'expected exactly one FILE');
    const file = positionals[0]!;
    const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new UserError(ERR_USAGE, `cannot read ${file}: ${e.code ?? e.message}`);
    });
    const { gpus } = parseNvidiaSmiXml(text);
    io.stdout(values.json ? `${JSON.stringify(gpus, null, 2)}\n` : `${gpuTable(gpus).join('\n')}\n`);
    return 0;
  },
};

export default verb;
