import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { clean, clientFrom, EXIT, EXIT_CODES_HELP, nodeIdArg, runApi, TARGET_FLAGS, TARGET_HELP } from './client.js';

const verb: Verb = {
  summary: "Approve a node's current verified state as its new baseline (operator token); the reason is recorded.",
  usage: `nodeseal approve ID --reason TEXT [--json]\n  ${TARGET_HELP}\n  ${EXIT_CODES_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...TARGET_FLAGS, reason: { type: 'string' }, json: { type: 'boolean' } }, true);
    const id = nodeIdArg(positionals, 'nodeseal approve ID --reason TEXT');
    const reason = values.reason?.trim();
    if (!reason) throw new UserError(ERR_USAGE, '--reason is required (it is recorded with the approval)');
    if (reason.length > 1000) throw new UserError(ERR_USAGE, '--reason is longer than 1000 characters');
    const client = clientFrom(values, io.env);
    return runApi(io, 'approve', async () => {
      const out = await client.post<Record<string, unknown>>(`/v1/nodes/${encodeURIComponent(id)}/approve`, { reason });
      if (values.json) io.stdout(`${JSON.stringify(out, null, 2)}\n`);
      else {
        const status = typeof out?.status === 'string' ? ` (now ${clean(out.status)})` : '';
        io.stdout(`approved ${clean(id)}${status}: ${clean(reason)}\n`);
      }
      return EXIT.ok;
    });
  },
};
export default verb;
