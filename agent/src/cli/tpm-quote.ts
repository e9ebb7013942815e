import { parseFlags, type Verb } from '../../../shared/src/cli/verb.js';
import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { DEFAULT_QUOTE_PCRS } from '../tpm/evidence.js';
import { tpmPublicPem } from '../tpm/public-key.js';
import { withTpm } from '../tpm/tpm.js';
import { TPM_FLAG_HELP, parseAkHandle, parseNonce, parsePcrList, tctiFrom } from './tpm-args.js';

const verb: Verb = {
  summary: "Quote PCRs with this host's attestation key (created and persisted on first use) over a nonce.",
  usage: [
    'nodeseal tpm quote --nonce HEX [--pcrs 0,1,...] [--tcti T] [--ak-handle 0x81010002] [--ak-alg ecc|rsa] [--json]',
    '',
    "  --nonce HEX     qualifying data, 1 to 64 bytes of hex (the verifier's challenge)",
    '  --pcrs LIST     sha256 PCRs to quote (default 0,1,2,3,4,5,6,7)',
    TPM_FLAG_HELP,
    '  --ak-handle H   persistent handle of the AK (default 0x81010002)',
    '  --ak-alg A      AK type when it must be created: ecc (P-256, default) or rsa (2048)',
    '  --json          optional: print {nonce, attest, signature, akPublic, akPublicPem, pcrs} as JSON',
    '                  (for scripts); without it the same fields are printed as text, one per line,',
    '                  then the sha256 PCR values and the AK public key (PEM).',
    '                  attest is TPMS_ATTEST, signature TPMT_SIGNATURE, akPublic TPM2B_PUBLIC, all hex;',
    '                  tpm2_checkquote -m/-s/-u read them once written out as binary files',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      {
        nonce: { type: 'string' },
        pcrs: { type: 'string' },
        tcti: { type: 'string' },
        'ak-handle': { type: 'string' },
        'ak-alg': { type: 'string' },
        json: { type: 'boolean' },
      },
      true,
    );
    if (positionals.length) throw new UserError(ERR_USAGE, `unexpected argument '${positionals[0]}'`);
    const nonce = parseNonce(values.nonce);
    const pcrList = parsePcrList(values.pcrs, DEFAULT_QUOTE_PCRS);
    const tcti = tctiFrom(values.tcti, io.env);
    const handle = parseAkHandle(values['ak-handle']);
    const alg = values['ak-alg'] ?? 'ecc';
    if (alg !== 'ecc' && alg !== 'rsa') throw new UserError(ERR_USAGE, `--ak-alg must be ecc or rsa, not '${alg}'`);
    const out = await withTpm(tcti, async (tpm) => {
      const akPublic = await tpm.ensureAk({ ...(handle !== undefined && { handle }), alg });
      const quote = await tpm.quote(nonce, pcrList, 'sha256');
      const all = await tpm.readPcrs(['sha256']);
      const sha256: Record<string, string> = {};
      for (const p of pcrList) sha256[String(p)] = all.sha256![String(p)]!;
      return {
        nonce: nonce.toString('hex'),
        attest: quote.attest.toString('hex'),
        signature: quote.signature.toString('hex'),
        akPublic: akPublic.toString('hex'),
        akPublicPem: tpmPublicPem(akPublic),
        pcrs: { sha256 },
      };
    });
    if (values.json) {
      io.stdout(`${JSON.stringify(out, null, 2)}\n`);
      return 0;
    }
    io.stdout(`nonce      ${out.nonce}\nattest     ${out.attest}\nsignature  ${out.signature}\nakPublic   ${out.akPublic}\n`);
    for (const [i, v] of Object.entries(out.pcrs.sha256)) io.stdout(`sha256:${i.padEnd(2)} ${v}\n`);
    io.stdout(out.akPublicPem);
    return 0;
  },
};

export default verb;
