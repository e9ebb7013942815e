import { readFile } from 'node:fs/promises';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import { verifyReceipt } from '../receipt.js';
import { clientFrom, runApi, TARGET_FLAGS } from './client.js';
import { receiptTable } from './receipt.js';

const verb: Verb = {
  summary: "Check a job receipt's signature and show the verified state of each node it lists.",
  usage:
    'nodeseal receipt verify FILE (--key JWK_FILE | --url URL) [--require-trusted] [--json]\n\n' +
    '  FILE               the receipt: a compact JWS, or the JSON printed by `nodeseal receipt --json`\n' +
    "  --key JWK_FILE     the collector's public key (GET /v1/receipt/key, kept out of band): preferred\n" +
    '  --url URL          fetch the key from that collector instead (or NODESEAL_URL)\n' +
    '  --require-trusted  exit 1 unless every node in the receipt was trusted\n' +
    'Exit: 0 valid; 1 invalid (ERR_JWS_SIGNATURE, ERR_RECEIPT_PAYLOAD ...) or, with --require-trusted, a node not trusted; 2 usage.',
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { ...TARGET_FLAGS, key: { type: 'string' }, 'require-trusted': { type: 'boolean' }, json: { type: 'boolean' } },
      true,
    );
    if (positionals.length !== 1) throw new UserError(ERR_USAGE, 'exactly one receipt FILE is needed');
    let text: string;
    try {
      text = (await readFile(positionals[0]!, 'utf8')).trim();
    } catch (e) {
      throw new UserError(ERR_USAGE, `cannot read ${positionals[0]}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (text.startsWith('{')) {
      try {
        text = String((JSON.parse(text) as { receipt?: unknown }).receipt ?? '');
      } catch {
        throw new UserError(ERR_USAGE, `${positionals[0]} is neither a JWS nor receipt JSON`);
      }
    }
    return runApi(io, 'receipt verify', async () => {
      let jwk: unknown;
      if (values.key) {
        try {
          jwk = JSON.parse(await readFile(values.key, 'utf8'));
        } catch {
          throw new UserError(ERR_USAGE, `cannot read a JWK from ${values.key}`);
        }
      } else jwk = await clientFrom(values, io.env).get('/v1/receipt/key');
      const payload = await verifyReceipt(text, jwk);
      const untrusted = payload.nodes.filter((n) => n.status !== 'trusted');
      if (values.json) io.stdout(`${JSON.stringify({ valid: true, payload }, null, 2)}\n`);
      else io.stdout(`valid receipt ${payload.jti}, issued ${payload.issuedAt} by ${payload.iss}\n${receiptTable(payload)}`);
      if (values['require-trusted'] && untrusted.length) {
        io.stderr(
          `nodeseal receipt verify: ${untrusted.length} node(s) not trusted: ${untrusted.map((n) => `${n.nodeId}=${n.status}`).join(', ')}\n`,
        );
        return 1;
      }
      return 0;
    });
  },
};

export default verb;
