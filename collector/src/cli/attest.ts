import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { clean, clientFrom, EXIT, EXIT_CODES_HELP, nodeIdArg, runApi, table, TARGET_FLAGS, TARGET_HELP } from './client.js';

interface Verdict {
  status?: unknown;
  reasons?: Array<{ code?: string; claim?: string; detail?: string }>;
  verifiedAt?: unknown;
}

const verb: Verb = {
  summary: 'Ask a node for fresh evidence now; with --wait, wait for the verdict and exit 0 only when trusted.',
  usage: `nodeseal attest ID [--wait SEC] [--json]\n  ${TARGET_HELP}\n  ${EXIT_CODES_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...TARGET_FLAGS, wait: { type: 'string' }, json: { type: 'boolean' } }, true);
    const id = nodeIdArg(positionals, 'nodeseal attest ID [--wait SEC]');
    const wait = values.wait === undefined ? 0 : Number(values.wait);
    if (!Number.isFinite(wait) || wait < 0 || wait > 300) throw new UserError(ERR_USAGE, '--wait must be seconds from 0 to 300');
    const client = clientFrom(values, io.env);
    return runApi(io, 'attest', async () => {
      const q = wait > 0 ? `?wait=${wait}` : '';
      const out = await client.post<Verdict>(`/v1/nodes/${encodeURIComponent(id)}/attest${q}`, {}, wait * 1000);
      if (values.json) io.stdout(`${JSON.stringify(out, null, 2)}\n`);
      if (wait === 0) {
        if (!values.json) io.stdout(`challenge sent to ${clean(id)}\n`);
        return EXIT.ok;
      }
      const status = typeof out?.status === 'string' ? out.status : 'unknown';
      if (!values.json) {
        io.stdout(`${clean(id)}: ${status.toUpperCase()}\n`);
        if (out.reasons?.length)
          io.stdout(
            table(
              ['CODE', 'CLAIM', 'DETAIL'],
              out.reasons.map((r) => [r.code, r.claim, r.detail]),
              100,
            ),
          );
      }
      return status === 'trusted' ? EXIT.ok : EXIT.notTrusted;
    });
  },
};
export default verb;
