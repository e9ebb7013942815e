import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { withTpm } from '../tpm/tpm.js';
import { TPM_FLAG_HELP, tctiFrom } from './tpm-args.js';

const verb: Verb = {
  summary: "Read every PCR of every active bank of this host's TPM.",
  usage: [
    'nodeseal tpm pcrs [--tcti T] [--bank NAME]... [--json]',
    '',
    TPM_FLAG_HELP,
    '  --bank NAME     only this bank (sha1, sha256, sha384, sha512); repeatable',
    '  --json          print {"pcrs": {"sha256": {"0": hex, ...}, ...}} (lowercase hex)',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { tcti: { type: 'string' }, bank: { type: 'string', multiple: true }, json: { type: 'boolean' } },
      true,
    );
    if (positionals.length) throw new UserError(ERR_USAGE, `unexpected argument '${positionals[0]}'`);
    const tcti = tctiFrom(values.tcti, io.env);
    const pcrs = await withTpm(tcti, (tpm) => tpm.readPcrs(values.bank));
    if (values.json) {
      io.stdout(`${JSON.stringify({ pcrs }, null, 2)}\n`);
      return 0;
    }
    for (const [bank, values] of Object.entries(pcrs)) {
      io.stdout(`${bank}:\n`);
      for (const [index, hex] of Object.entries(values)) io.stdout(`  ${index.padStart(2)}: ${hex}\n`);
    }
    return 0;
  },
};

export default verb;
