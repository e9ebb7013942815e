import { createHash } from 'node:crypto';
import type { HashName } from './alg.js';
import type { PcrSelection } from './attest.js';
import { ERR_TPM_QUOTE_PCR_MISSING, TpmError } from './errors.js';

/** PCR values per bank, lowercase or uppercase hex: `{ sha256: { "0": "ab..", ... } }`. */
export type PcrValues = Record<string, Record<string, string>>;

const digestSizes: Record<HashName, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/**
 * The quote's pcrDigest: H(concatenation of the selected PCR values, banks in pcrSelect order,
 * PCRs ascending within a bank), H being the signing scheme's hash.
 * A selected PCR without a well-formed value gives ERR_TPM_QUOTE_PCR_MISSING.
 */
export function pcrDigest(hash: HashName, selection: PcrSelection[], pcrs: PcrValues): Buffer {
  const h = createHash(hash);
  for (const sel of selection) {
    const bank = Object.hasOwn(pcrs, sel.bank) ? pcrs[sel.bank] : undefined;
    for (const index of sel.pcrs) {
      const hex = bank && Object.hasOwn(bank, String(index)) ? bank[String(index)] : undefined;
      const size = digestSizes[sel.bank];
      if (typeof hex !== 'string' || hex.length !== size * 2 || !/^[0-9a-fA-F]+$/.test(hex)) {
        throw new TpmError(
          ERR_TPM_QUOTE_PCR_MISSING,
          `quote selects ${sel.bank} PCR ${index} but no ${size}-byte hex value was given for it`,
          { details: { bank: sel.bank, pcr: index } },
        );
      }
      h.update(Buffer.from(hex, 'hex'));
    }
  }
  return h.digest();
}
