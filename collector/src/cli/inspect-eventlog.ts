import { readFile } from 'node:fs/promises';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { computePcrs, describeEvent, parseEventLog, type UnverifiedEventLog } from '../../../shared/src/eventlog/index.js';

/** The JSON form: every event with its digests and what it measured, and the replayed PCRs per bank. */
export function eventLogJson(log: UnverifiedEventLog): Record<string, unknown> {
  return {
    format: log.format,
    specId: log.specId && { ...log.specId, vendorInfo: log.specId.vendorInfo.toString('hex') },
    startupLocality: log.startupLocality,
    banks: log.banks,
    events: log.events.map((e) => ({
      index: e.index,
      pcr: e.pcr,
      type: e.typeName,
      digests: Object.fromEntries(Object.entries(e.digests).map(([b, d]) => [b, d.toString('hex')])),
      size: e.data.length,
      description: describeEvent(e),
      ...(e.decoded.kind === 'variable'
        ? {
            variable: {
              guid: e.decoded.variable.guid,
              name: e.decoded.variable.name,
              dataLength: e.decoded.variable.dataLength,
              dataSha256: e.decoded.variable.dataSha256,
            },
          }
        : {}),
      ...(e.decoded.kind === 'image' ? { image: e.decoded.image } : {}),
    })),
    pcrs: computePcrs(log),
  };
}

const verb: Verb = {
  summary: 'Parse a TCG event log (binary_bios_measurements) and print its events and the PCR values it replays to.',
  usage:
    'nodeseal inspect eventlog FILE [--json]\n\n' +
    '  --json   print {format, specId, banks, events[], pcrs: {sha256: {"0": hex}, ...}}\n\n' +
    'Record FILE on a node with: cp /sys/kernel/security/tpm0/binary_bios_measurements FILE\n' +
    'The replayed values are what the log claims; only a quote makes them evidence (nodeseal inspect quote).',
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, true);
    if (positionals.length !== 1) throw new UserError(ERR_USAGE, 'expected exactly one FILE');
    const file = positionals[0]!;
    const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
      throw new UserError(ERR_USAGE, `cannot read ${file}: ${e.code ?? e.message}`);
    });
    const log = parseEventLog(bytes);
    if (values.json) {
      io.stdout(`${JSON.stringify(eventLogJson(log), null, 2)}\n`);
      return 0;
    }
    const lines = [
      `format: ${log.format}  banks: ${log.banks.join(', ')}  events: ${log.events.length}${log.startupLocality !== null ? `  startup locality: ${log.startupLocality}` : ''}`,
      '',
    ];
    for (const e of log.events)
      lines.push(`${String(e.index).padStart(4)}  PCR${String(e.pcr).padEnd(2)}  ${e.typeName.padEnd(34)}  ${describeEvent(e)}`);
    lines.push('');
    for (const [bank, pcrs] of Object.entries(computePcrs(log)))
      for (const [i, v] of Object.entries(pcrs)) lines.push(`${bank}:${i.padEnd(2)} ${v}`);
    io.stdout(`${lines.join('\n')}\n`);
    return 0;
  },
};

export default verb;
