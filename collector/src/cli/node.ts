import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import {
  ago,
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

interface Reason {
  code?: string;
  claim?: string;
  detail?: string;
}
interface NodeDoc {
  nodeId: string;
  status: string;
  reasons?: Reason[];
  verifiedAt?: string | null;
  firstSeenAt?: string | null;
  lastSeenAt?: string | null;
  kid?: string | null;
  enrolledVia?: string | null;
  revokedAt?: string | null;
  expiresAt?: string | null;
  summary?: Record<string, unknown> | null;
}
interface TrustDoc {
  status: string;
  reasons?: Reason[];
  verifiedAt?: string | null;
  expiresAt?: string | null;
}

const USAGE = `nodeseal node ID [--json]\n  ${TARGET_HELP}\n  ${EXIT_CODES_HELP}`;

/** GET /v1/nodes/:id may answer the record itself or {node, ...}. */
function parseNode(body: unknown): NodeDoc {
  const n = (body && typeof body === 'object' && 'node' in body ? (body as { node: unknown }).node : body) as NodeDoc | null;
  if (!n || typeof n !== 'object' || typeof n.nodeId !== 'string' || typeof n.status !== 'string')
    throw new ApiError(ERR_CLI_RESPONSE, 'malformed node in the collector answer', EXIT.failed);
  return n;
}

const verb: Verb = {
  summary: 'Show one node: its trust now (with reasons), identity and hardware summary. Exit 0 only when trusted.',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...TARGET_FLAGS, json: { type: 'boolean' } }, true);
    const id = nodeIdArg(positionals, 'nodeseal node ID');
    const client = clientFrom(values, io.env);
    return runApi(io, 'node', async () => {
      const enc = encodeURIComponent(id);
      // The node view carries the effective status (stale computed from the freshness TTL).
      const node = parseNode(await client.get(`/v1/nodes/${enc}`));
      const trustRaw: TrustDoc = {
        status: node.status,
        reasons: node.reasons ?? [],
        verifiedAt: node.verifiedAt ?? null,
        expiresAt: node.expiresAt ?? null,
      };
      const trusted = trustRaw.status === 'trusted';
      if (values.json) {
        io.stdout(`${JSON.stringify({ node }, null, 2)}\n`);
        return trusted ? EXIT.ok : EXIT.notTrusted;
      }
      const s = node.summary ?? {};
      const lines: Array<[string, unknown]> = [
        ['node', node.nodeId],
        ['status', trustRaw.status.toUpperCase()],
        ['verified', trustRaw.verifiedAt ? `${trustRaw.verifiedAt} (${ago(trustRaw.verifiedAt)})` : 'never'],
        ['expires', trustRaw.expiresAt],
        ['first seen', node.firstSeenAt],
        ['last seen', node.lastSeenAt],
        ['key id', node.kid],
        ['enrolled via', node.enrolledVia],
        ...(node.revokedAt ? ([['revoked', node.revokedAt]] as Array<[string, unknown]>) : []),
        ...hardwareRows(s),
        ['inventory', s.inventoryDigest],
        ['pcrs', s.pcrDigest],
      ];
      const w = Math.max(...lines.map(([k]) => k.length));
      io.stdout(`${lines.map(([k, v]) => `${k.padEnd(w)}  ${clean(v)}`).join('\n')}\n`);
      const reasons = trustRaw.reasons ?? node.reasons ?? [];
      if (reasons.length)
        io.stdout(
          `\nReasons:\n${table(
            ['CODE', 'CLAIM', 'DETAIL'],
            reasons.map((r) => [r.code, r.claim, r.detail]),
            100,
          )}`,
        );
      return trusted ? EXIT.ok : EXIT.notTrusted;
    });
  },
};
/** The hardware lines of `nodeseal node`: "0" for a node without GPUs, "-" (never blank) for what is missing. */
export function hardwareRows(s: {
  gpuCount?: unknown;
  gpuModel?: unknown;
  driver?: unknown;
  vbios?: unknown;
  biosVersion?: unknown;
}): Array<[string, unknown]> {
  const vbios = Array.isArray(s.vbios) ? [...new Set(s.vbios.map((v) => clean(v)))].join(', ') : s.vbios;
  return [
    [
      'gpus',
      s.gpuCount === undefined || s.gpuCount === null ? '-' : s.gpuCount === 0 ? '0' : `${clean(s.gpuCount)} × ${clean(s.gpuModel)}`,
    ],
    ['driver', s.driver],
    ['vbios', vbios === '' ? '-' : vbios],
    ['bios', s.biosVersion],
  ];
}

export default verb;
