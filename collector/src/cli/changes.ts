import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import {
  ApiError,
  clean,
  clientFrom,
  EXIT,
  EXIT_CODES_HELP,
  ERR_CLI_RESPONSE,
  nodeIdArg,
  runApi,
  table,
  TARGET_FLAGS,
  TARGET_HELP,
} from './client.js';

interface Change {
  seq?: number;
  at?: string;
  code: string;
  claim?: string;
  detail?: string;
  before?: unknown;
  after?: unknown;
}

export function parseChanges(body: unknown): Change[] {
  const list = Array.isArray(body) ? body : (body as { changes?: unknown } | null)?.changes;
  if (!Array.isArray(list) || list.some((c) => !c || typeof c !== 'object' || typeof (c as Change).code !== 'string'))
    throw new ApiError(ERR_CLI_RESPONSE, 'the collector answered without a well-formed change list', EXIT.failed);
  return list as Change[];
}

const verb: Verb = {
  summary: "List a node's detected changes (drift), newest first, with before and after values.",
  usage: `nodeseal changes ID [--limit N] [--json]\n  ${TARGET_HELP}\n  ${EXIT_CODES_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...TARGET_FLAGS, json: { type: 'boolean' }, limit: { type: 'string' } }, true);
    const id = nodeIdArg(positionals, 'nodeseal changes ID');
    const client = clientFrom(values, io.env);
    return runApi(io, 'changes', async () => {
      const q = values.limit ? `?limit=${encodeURIComponent(values.limit)}` : '';
      const changes = parseChanges(await client.get(`/v1/nodes/${encodeURIComponent(id)}/changes${q}`));
      if (values.json) {
        io.stdout(`${JSON.stringify({ nodeId: id, changes }, null, 2)}\n`);
        return EXIT.ok;
      }
      if (changes.length === 0) {
        io.stdout(`no changes recorded for ${clean(id)}\n`);
        return EXIT.ok;
      }
      io.stdout(
        table(
          ['AT', 'SEQ', 'CODE', 'DETAIL', 'BEFORE', 'AFTER'],
          changes.map((c) => [c.at, c.seq, c.code, c.detail, c.before, c.after]),
          48,
        ),
      );
      return EXIT.ok;
    });
  },
};
export default verb;
