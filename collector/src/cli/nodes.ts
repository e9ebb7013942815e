import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ago, ApiError, clientFrom, EXIT, EXIT_CODES_HELP, ERR_CLI_RESPONSE, runApi, table, TARGET_FLAGS, TARGET_HELP } from './client.js';

const STATUSES = ['trusted', 'untrusted', 'unknown', 'stale'];

interface NodeRow {
  nodeId: string;
  status: string;
  verifiedAt?: string | null;
  reasons?: Array<{ code?: string }>;
  summary?: { gpuCount?: number; gpuModel?: string | null; driver?: string | null; biosVersion?: string | null } | null;
}

/** Checks the shape of the listing (the answer is untrusted input like any other). */
export function parseNodeList(body: unknown): { nodes: NodeRow[]; total: number } {
  const list = Array.isArray(body) ? body : (body as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(list)) throw new ApiError(ERR_CLI_RESPONSE, 'the collector answered GET /v1/nodes without a node list', EXIT.failed);
  for (const n of list)
    if (!n || typeof n !== 'object' || typeof (n as NodeRow).nodeId !== 'string' || typeof (n as NodeRow).status !== 'string')
      throw new ApiError(ERR_CLI_RESPONSE, 'the collector answered GET /v1/nodes with a malformed node', EXIT.failed);
  const total = (body as { total?: unknown }).total;
  return { nodes: list as NodeRow[], total: typeof total === 'number' ? total : list.length };
}

const verb: Verb = {
  summary: 'List the nodes the collector knows, with their trust status.',
  usage: `nodeseal nodes [--status trusted|untrusted|unknown|stale] [--search TEXT] [--limit N] [--offset N] [--json]\n  ${TARGET_HELP}\n  ${EXIT_CODES_HELP}`,
  async run(argv, io) {
    const { values } = parseFlags(argv, { ...TARGET_FLAGS, status: { type: 'string' }, search: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' }, json: { type: 'boolean' } });
    if (values.status !== undefined && !STATUSES.includes(values.status)) throw new UserError(ERR_USAGE, `--status must be one of ${STATUSES.join(', ')}`);
    const limit = values.limit === undefined ? 1000 : Number(values.limit);
    const offset = values.offset === undefined ? 0 : Number(values.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UserError(ERR_USAGE, '--limit must be an integer from 1 to 10000');
    if (!Number.isInteger(offset) || offset < 0) throw new UserError(ERR_USAGE, '--offset must be a non-negative integer');
    const client = clientFrom(values, io.env);
    return runApi(io, 'nodes', async () => {
      const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
      if (values.status) q.set('status', values.status);
      if (values.search) q.set('search', values.search);
      const { nodes, total } = parseNodeList(await client.get(`/v1/nodes?${q}`));
      if (values.json) {
        io.stdout(`${JSON.stringify({ nodes, total }, null, 2)}\n`);
        return EXIT.ok;
      }
      io.stdout(
        table(
          ['NODE', 'STATUS', 'VERIFIED', 'GPUS', 'GPU MODEL', 'DRIVER', 'BIOS', 'REASONS'],
          nodes.map((n) => [
            n.nodeId,
            n.status,
            ago(n.verifiedAt),
            n.summary?.gpuCount ?? '-',
            n.summary?.gpuModel,
            n.summary?.driver,
            n.summary?.biosVersion,
            (n.reasons ?? []).map((r) => r.code).filter(Boolean).join(',') || '-',
          ]),
        ),
      );
      const counts = STATUSES.map((s) => `${nodes.filter((n) => n.status === s).length} ${s}`).join(', ');
      io.stdout(`${nodes.length} of ${total} node(s) shown: ${counts}\n`);
      return EXIT.ok;
    });
  },
};
export default verb;
