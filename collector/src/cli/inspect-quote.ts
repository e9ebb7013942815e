import { readFile } from 'node:fs/promises';
import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ERR_SCHEMA, ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { parseEventLog, replay } from '../../../shared/src/eventlog/index.js';
import { publicKeyPem, verifyQuote } from '../../../shared/src/tpm/index.js';

interface QuoteFile {
  nonce: string;
  attest: string;
  signature: string;
  akPublic: string;
  pcrs: Record<string, Record<string, string>>;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Checks the shape of a saved quote (`nodeseal tpm quote --json` output) before any crypto. */
export function parseQuoteFile(text: string): QuoteFile {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new UserError(ERR_SCHEMA, `not JSON: ${(e as Error).message}`);
  }
  const o = j as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new UserError(ERR_SCHEMA, 'expected a JSON object {nonce, attest, signature, akPublic, pcrs}');
  const known = new Set(['nonce', 'attest', 'signature', 'akPublic', 'akPublicPem', 'pcrs']);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new UserError(ERR_SCHEMA, `unknown field(s): ${unknown.join(', ')}`);
  if (o.akPublicPem !== undefined && typeof o.akPublicPem !== 'string')
    throw new UserError(ERR_SCHEMA, 'field akPublicPem must be a string');
  for (const k of ['nonce', 'attest', 'signature', 'akPublic'] as const) {
    if (typeof o[k] !== 'string' || !HEX.test(o[k] as string)) throw new UserError(ERR_SCHEMA, `field ${k} must be a hex string`);
  }
  const pcrs = o.pcrs as Record<string, unknown>;
  if (typeof pcrs !== 'object' || pcrs === null || Array.isArray(pcrs))
    throw new UserError(ERR_SCHEMA, 'field pcrs must be {bank: {index: hex}}');
  for (const [bank, values] of Object.entries(pcrs)) {
    if (typeof values !== 'object' || values === null || Array.isArray(values))
      throw new UserError(ERR_SCHEMA, `pcrs.${bank} must be {index: hex}`);
    for (const [i, v] of Object.entries(values))
      if (typeof v !== 'string' || !HEX.test(v)) throw new UserError(ERR_SCHEMA, `pcrs.${bank}.${i} must be hex`);
  }
  return {
    nonce: o.nonce as string,
    attest: o.attest as string,
    signature: o.signature as string,
    akPublic: o.akPublic as string,
    pcrs: pcrs as QuoteFile['pcrs'],
  };
}

const verb: Verb = {
  summary: 'Verify a saved TPM quote (nodeseal tpm quote --json output): signature, nonce, PCR digest, AK attributes.',
  usage:
    'nodeseal inspect quote FILE [--nonce HEX] [--eventlog LOG] [--json]\n\n' +
    "  --nonce HEX      the nonce the quote must be over (default: the file's own nonce field)\n" +
    '  --eventlog LOG   also replay this binary event log against the quoted PCRs\n' +
    '  --json           print the result as JSON\n\n' +
    'Exits 1 with the reason (and its ERR_ code) when the quote does not verify.',
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { json: { type: 'boolean' }, nonce: { type: 'string' }, eventlog: { type: 'string' } },
      true,
    );
    if (positionals.length !== 1) throw new UserError(ERR_USAGE, 'expected exactly one FILE');
    const read = (f: string) =>
      readFile(f).catch((e: NodeJS.ErrnoException) => {
        throw new UserError(ERR_USAGE, `cannot read ${f}: ${e.code ?? e.message}`);
      });
    const q = parseQuoteFile((await read(positionals[0]!)).toString('utf8'));
    if (values.nonce !== undefined && !HEX.test(values.nonce)) throw new UserError(ERR_USAGE, '--nonce must be hex');
    const v = verifyQuote({ attest: q.attest, signature: q.signature, akPublic: q.akPublic, nonce: values.nonce ?? q.nonce, pcrs: q.pcrs });
    const result: Record<string, unknown> = {
      ok: true,
      signature: `${v.signature.alg}/${v.signature.hash}`,
      ak: { type: v.ak.type, attributes: v.ak.attributes, pem: publicKeyPem(v.ak) },
      pcrSelect: v.attest.pcrSelect,
      clockInfo: { ...v.attest.clockInfo, clock: v.attest.clockInfo.clock.toString() },
      firmwareVersion: `0x${v.attest.firmwareVersion.toString(16)}`,
    };
    if (values.eventlog) {
      const r = replay(parseEventLog(await read(values.eventlog)), q.pcrs);
      if (!r.ok) throw r.error;
      result.eventlog = { workaround: r.workaround, verifiedPcrs: r.log.verifiedPcrs };
    }
    if (values.json) {
      io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    }
    io.stdout(
      `${[
        `quote verifies: ${result.signature} by a ${v.ak.type} AK`,
        ...v.attest.pcrSelect.map((s) => `  ${s.bank}: PCRs ${s.pcrs.join(',')}`),
        `  clock ${v.attest.clockInfo.clock} resets ${v.attest.clockInfo.resetCount} restarts ${v.attest.clockInfo.restartCount}, firmware ${result.firmwareVersion}`,
        ...(result.eventlog
          ? [
              `event log replays to the quoted PCRs${(result.eventlog as { workaround: string | null }).workaround ? ` (workaround ${(result.eventlog as { workaround: string }).workaround})` : ''}`,
            ]
          : []),
      ].join('\n')}\n`,
    );
    return 0;
  },
};

export default verb;
