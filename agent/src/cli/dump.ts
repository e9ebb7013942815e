import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { collectInventory } from '../inventory.js';
import { createHostPorts } from '../ports/host-ports.js';
import { recordingPorts } from '../ports/recording.js';
import { parseTimeout } from './args.js';

export const ERR_DUMP_DIR_NOT_EMPTY = 'ERR_DUMP_DIR_NOT_EMPTY';

const verb: Verb = {
  summary:
    'Record every raw output the agent reads on this host (sysfs/procfs files, tool outputs) into DIR, replayable with `inventory --root DIR`.',
  usage: [
    'nodeseal dump DIR [--timeout MS] [--json]',
    '',
    'DIR must be new or empty. Layout: DIR/<absolute path> for files (DIR/proc/cpuinfo,',
    'DIR/sys/bus/pci/devices/...), DIR/commands/<argv>.stdout|.exit|.stderr for tools,',
    'DIR/sysinfo/*.json for systeminformation answers. Review before sending: DIR/proc/cmdline',
    'holds the kernel command line verbatim.',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { timeout: { type: 'string' }, json: { type: 'boolean' } }, true);
    if (positionals.length !== 1) throw new UserError(ERR_USAGE, 'expected exactly one DIR');
    const dir = positionals[0]!;
    const timeoutMs = parseTimeout(values.timeout);
    const existing = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw new UserError(ERR_USAGE, `cannot use ${dir}: ${e.code ?? e.message}`);
    });
    if (existing.length) throw new UserError(ERR_DUMP_DIR_NOT_EMPTY, `${dir} is not empty; give a new or empty directory`);
    await mkdir(dir, { recursive: true });
    const ports = recordingPorts(createHostPorts({ timeoutMs }), dir);
    const { inventory, inventoryDigest } = await collectInventory(ports, { timeoutMs });
    const manifest = {
      format: 'nodeseal-recorded-host/1',
      recordedAt: new Date().toISOString(),
      inventoryDigest,
      sources: inventory.sources,
    };
    await writeFile(join(dir, 'nodeseal-dump.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (values.json) io.stdout(`${JSON.stringify({ dir, inventoryDigest, sources: inventory.sources }, null, 2)}\n`);
    else
      io.stdout(
        `recorded this host into ${dir} (inventoryDigest ${inventoryDigest})\nreplay with: nodeseal inventory --root ${dir}\nreview ${join(dir, 'proc/cmdline')} before sending: it holds the kernel command line\n`,
      );
    return 0;
  },
};

export default verb;
