import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import {
  ago,
  ApiError,
  type ApiClient,
  clientFrom,
  EXIT,
  EXIT_CODES_HELP,
  ERR_CLI_RESPONSE,
  runApi,
  table,
  TARGET_FLAGS,
  TARGET_HELP,
} from './client.js';

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

type Counts = Record<string, number>;

/** Whole-fleet counts by status (the dashboard's fleet read); null when the collector has none to give. */
async function fleetCounts(client: ApiClient): Promise<Counts | null> {
  try {
    const body = await client.get<{ counts?: unknown }>('/v1/dashboard/fleet?limit=1');
    const c = body?.counts as Record<string, unknown> | undefined;
    if (!c || typeof c !== 'object' || !STATUSES.every((s) => typeof c[s] === 'number' && Number.isInteger(c[s]) && (c[s] as number) >= 0))
      return null;
    return Object.fromEntries(STATUSES.map((s) => [s, c[s] as number]));
  } catch {
    return null;
  }
}

const countsText = (c: Counts) => STATUSES.map((s) => `${c[s] ?? 0} ${s}`).join(', ');

/**
 * The line under the table says what it counts: the rows shown out of the rows that match, and the
 * whole fleet by status (not the rows shown, which under --status would count only that status).
 */
export function summaryLine(
  nodes: NodeRow[],
  total: number,
  filter: { status?: string | undefined; search?: string | undefined } | null,
  fleet: Counts | null,
): string {
  const what = filter
    ? [
        filter.status !== undefined ? `--status ${filter.status}` : null,
        filter.search !== undefined ? `--search ${JSON.stringify(filter.search)}` : null,
      ]
        .filter(Boolean)
        .join(' ')
    : '';
  const shown = `${nodes.length} of ${total} node(s)${what ? ` matching ${what}` : ''} shown`;
  if (!filter && nodes.length === total) {
    const counts: Counts = Object.fromEntries(STATUSES.map((s) => [s, nodes.filter((n) => n.status === s).length]));
    return `${shown}: ${countsText(counts)}`;
  }
  if (!fleet) return shown;
  const size = STATUSES.reduce((n, s) => n + (fleet[s] ?? 0), 0);
  return `${shown}; fleet: ${size} node(s): ${countsText(fleet)}`;
}

const verb: Verb = {
  summary: 'List the nodes the collector knows, with their trust status.',
  usage: `nodeseal nodes [--status trusted|untrusted|unknown|stale] [--search TEXT] [--limit N] [--offset N] [--json]\n  ${TARGET_HELP}\n  ${EXIT_CODES_HELP}`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      ...TARGET_FLAGS,
      status: { type: 'string' },
      search: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.status !== undefined && !STATUSES.includes(values.status))
      throw new UserError(ERR_USAGE, `--status must be one of ${STATUSES.join(', ')}`);
    const limit = values.limit === undefined ? 1000 : Number(values.limit);
    const offset = values.offset === undefined ? 0 : Number(values.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw new UserError(ERR_USAGE, '--limit must be an integer from 1 to 10000');
    if (!Number.isInteger(offset) || offset < 0) throw new UserError(ERR_USAGE, '--offset must be a non-negative integer');
    const client = clientFrom(values, io.env);
    return runApi(io, 'nodes', async () => {
      const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
      if (values.status) q.set('status', values.status);
      if (values.search) q.set('search', values.search);
      const filtered = values.status !== undefined || values.search !== undefined;
      const [body, fleet] = await Promise.all([client.get(`/v1/nodes?${q}`), values.json ? null : fleetCounts(client)]);
      const { nodes, total } = parseNodeList(body);
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
            (n.reasons ?? [])
              .map((r) => r.code)
              .filter(Boolean)
              .join(',') || '-',
          ]),
        ),
      );
      io.stdout(`${summaryLine(nodes, total, filtered ? { status: values.status, search: values.search } : null, fleet)}\n`);
      return EXIT.ok;
    });
  },
};
export default verb;
