import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ApiError, clean, clientFrom, EXIT, EXIT_CODES_HELP, nodeIdArg, runApi, TARGET_FLAGS, TARGET_HELP } from './client.js';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const STATE_CHANGED = 'ERR_APPROVE_STATE_CHANGED';

interface NodeRead {
  status?: unknown;
  reasons?: unknown;
  summary?: { inventoryDigest?: unknown; pcrDigest?: unknown } | null;
}

function digestFlag(name: string, v: string | undefined, allowNone: boolean): string | null | undefined {
  if (v === undefined) return undefined;
  if (allowNone && v === 'none') return null;
  if (!DIGEST_RE.test(v))
    throw new UserError(ERR_USAGE, `--${name} must be sha256:<64 lowercase hex digits>${allowNone ? ' or none (no TPM evidence)' : ''}`);
  return v;
}

const verb: Verb = {
  summary: "Approve a node's current verified state as its new baseline (operator token); the reason is recorded.",
  usage: [
    'nodeseal approve ID --reason TEXT [--inventory-digest sha256:HEX] [--pcr-digest sha256:HEX|none] [--json]',
    '  Reads the node first, prints the state it approves (inventory digest, PCR digest, current reasons)',
    '  and sends those digests: if the node reported another state meanwhile, the collector refuses',
    '  (ERR_APPROVE_STATE_CHANGED, exit 1) and nothing is approved.',
    '  --inventory-digest / --pcr-digest pin the state a person reviewed (see `nodeseal node ID --json`,',
    '  summary.inventoryDigest / summary.pcrDigest) instead of the one read now.',
    `  ${TARGET_HELP}`,
    `  ${EXIT_CODES_HELP}`,
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        ...TARGET_FLAGS,
        reason: { type: 'string' },
        'inventory-digest': { type: 'string' },
        'pcr-digest': { type: 'string' },
        json: { type: 'boolean' },
      },
      true,
    );
    const id = nodeIdArg(positionals, 'nodeseal approve ID --reason TEXT');
    const reason = values.reason?.trim();
    if (!reason) throw new UserError(ERR_USAGE, '--reason is required (it is recorded with the approval)');
    if (reason.length > 1000) throw new UserError(ERR_USAGE, '--reason is longer than 1000 characters');
    const pinInv = digestFlag('inventory-digest', values['inventory-digest'], false);
    const pinPcr = digestFlag('pcr-digest', values['pcr-digest'], true);
    const client = clientFrom(values, io.env);
    const path = `/v1/nodes/${encodeURIComponent(id)}`;
    return runApi(io, 'approve', async () => {
      const node = await client.get<NodeRead>(path);
      const seenInv =
        typeof node?.summary?.inventoryDigest === 'string' && DIGEST_RE.test(node.summary.inventoryDigest)
          ? node.summary.inventoryDigest
          : undefined;
      const seenPcr =
        node?.summary?.pcrDigest === null
          ? null
          : typeof node?.summary?.pcrDigest === 'string' && DIGEST_RE.test(node.summary.pcrDigest)
            ? node.summary.pcrDigest
            : undefined;
      const inventoryDigest = pinInv ?? seenInv;
      const pcrDigest = pinPcr !== undefined ? pinPcr : seenPcr;
      const body: Record<string, unknown> = { reason };
      if (inventoryDigest !== undefined) body.inventoryDigest = inventoryDigest;
      if (pcrDigest !== undefined) body.pcrDigest = pcrDigest;
      if (!values.json) {
        const codes = Array.isArray(node?.reasons) ? node.reasons.map((r) => clean((r as { code?: unknown })?.code)) : [];
        io.stdout(
          `approving ${clean(id)} (${clean(node?.status)}${pinInv !== undefined || pinPcr !== undefined ? ', pinned by flags' : ''}):\n` +
            `  inventory  ${inventoryDigest ?? '- (no verified state)'}\n` +
            `  pcrs       ${pcrDigest === null ? 'none (no TPM evidence)' : (pcrDigest ?? '-')}\n` +
            `  reasons    ${codes.length ? codes.join(', ') : 'none'}\n`,
        );
      }
      let out: Record<string, unknown>;
      try {
        out = await client.post<Record<string, unknown>>(`${path}/approve`, body);
      } catch (e) {
        if (e instanceof ApiError && e.code === STATE_CHANGED)
          throw new ApiError(
            e.code,
            `${id} reported another state than the one shown above; nothing was approved, review it again`,
            EXIT.failed,
            e.status,
          );
        throw e;
      }
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
