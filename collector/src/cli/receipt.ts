import { writeFile } from 'node:fs/promises';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { NodesealError, UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { ERR_RECEIPT_PAYLOAD, verifyReceipt, type ReceiptPayload } from '../receipt.js';
import { clientFrom, runApi, table, TARGET_FLAGS, TARGET_HELP } from './client.js';

export function receiptTable(p: ReceiptPayload): string {
  return table(
    ['NODE', 'STATUS', 'VERIFIED', 'INVENTORY', 'PCRS', 'REASON'],
    p.nodes.map((n) => [n.nodeId, n.status, n.verifiedAt, n.inventoryDigest, n.pcrDigest, n.reasons[0]?.code ?? '']),
    80,
  );
}

const verb: Verb = {
  summary: 'Ask the collector for a signed receipt of the nodes a job uses (their verified state now).',
  usage:
    'nodeseal receipt --nodes LIST [--out FILE] [--json] [--url URL] [--token T]\n\n' +
    '  --nodes LIST   Slurm hostlist, e.g. gpu[001-016],login1 (in a job: "$SLURM_JOB_NODELIST")\n' +
    '  --out FILE     write the receipt (compact JWS) to FILE and print a summary; without it the JWS goes to stdout\n' +
    '  --json         print {receipt, kid, payload}\n' +
    `  ${TARGET_HELP}\n` +
    'The receipt is checked against the key the collector serves before it is printed.\n' +
    'Check it later with: nodeseal receipt verify FILE --key collector-receipt.jwk',
  async run(argv, io) {
    const { values } = parseFlags(argv, { ...TARGET_FLAGS, nodes: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } });
    if (!values.nodes) throw new UserError(ERR_USAGE, '--nodes LIST is required');
    const client = clientFrom(values, io.env);
    return runApi(io, 'receipt', async () => {
      const body = await client.get<{ receipt?: unknown; kid?: unknown }>(`/v1/receipt?nodes=${encodeURIComponent(values.nodes!)}`);
      if (typeof body.receipt !== 'string') throw new NodesealError(ERR_RECEIPT_PAYLOAD, 'the collector answered without a receipt');
      const key = await client.get('/v1/receipt/key');
      const payload = await verifyReceipt(body.receipt, key);
      if (values.out) {
        try {
          await writeFile(values.out, `${body.receipt}\n`, { mode: 0o644 });
        } catch (e) {
          throw new UserError(ERR_USAGE, `cannot write --out ${values.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
      if (values.json) io.stdout(`${JSON.stringify({ receipt: body.receipt, kid: body.kid, payload }, null, 2)}\n`);
      else if (values.out)
        io.stdout(`receipt ${payload.jti} for ${payload.nodes.length} node(s) written to ${values.out}\n${receiptTable(payload)}`);
      else io.stdout(`${body.receipt}\n`);
      return 0;
    });
  },
};

export default verb;
