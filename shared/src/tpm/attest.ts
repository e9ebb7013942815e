import { algName, hashAlg, type HashName } from './alg.js';
import { ERR_TPM_QUOTE_MAGIC, ERR_TPM_QUOTE_TYPE, ERR_TPM_UNSUPPORTED_ALG, TpmError, tpmParseError } from './errors.js';
import { Reader } from './reader.js';

export const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST_ATTEST_QUOTE = 0x8018;

/** One TPMS_PCR_SELECTION: a bank and the PCR indices selected in it, ascending. */
export interface PcrSelection {
  bank: HashName;
  pcrs: number[];
}

export interface ClockInfo {
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
}

/** A parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
export interface QuoteAttest {
  magic: number;
  type: number;
  qualifiedSigner: Buffer;
  extraData: Buffer;
  clockInfo: ClockInfo;
  firmwareVersion: bigint;
  pcrSelect: PcrSelection[];
  pcrDigest: Buffer;
}

const fail = (field: string, offset: number, message: string) => tpmParseError('TPMS_ATTEST', field, offset, message);

/** Largest pcrSelect bitmap we accept (PCR_SELECT_MAX for 32 PCRs) and most banks in one selection. */
const MAX_SELECT_BYTES = 4;
const MAX_BANKS = 16;

/** Reads TPML_PCR_SELECTION. */
export function readPcrSelection(r: Reader): PcrSelection[] {
  const count = r.u32be('pcrSelect.count');
  if (count > MAX_BANKS) throw fail('pcrSelect.count', r.offset - 4, `${count} banks, at most ${MAX_BANKS}`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hashId = r.u16be('pcrSelect.hash');
    const h = hashAlg(hashId);
    if (!h)
      throw new TpmError(ERR_TPM_UNSUPPORTED_ALG, `TPMS_ATTEST pcrSelect bank ${algName(hashId)} is not supported`, {
        details: { field: 'pcrSelect.hash', alg: hashId },
      });
    const size = r.u8('pcrSelect.sizeofSelect');
    if (size > MAX_SELECT_BYTES) throw fail('pcrSelect.sizeofSelect', r.offset - 1, `${size} bytes, at most ${MAX_SELECT_BYTES}`);
    const bitmap = r.bytes(size, 'pcrSelect.pcrSelect');
    const pcrs: number[] = [];
    for (let byte = 0; byte < size; byte++) for (let bit = 0; bit < 8; bit++) if (bitmap[byte]! & (1 << bit)) pcrs.push(byte * 8 + bit);
    out.push({ bank: h.name, pcrs });
  }
  return out;
}

/**
 * Parses TPMS_ATTEST bytes (the attest without its TPM2B size) and requires a quote:
 * magic TPM_GENERATED_VALUE (ERR_TPM_QUOTE_MAGIC) and type TPM_ST_ATTEST_QUOTE (ERR_TPM_QUOTE_TYPE).
 */
export function parseQuoteAttest(bytes: Uint8Array): QuoteAttest {
  const r = new Reader(bytes, fail);
  const magic = r.u32be('magic');
  if (magic !== TPM_GENERATED_VALUE) {
    throw new TpmError(
      ERR_TPM_QUOTE_MAGIC,
      `TPMS_ATTEST.magic is 0x${magic.toString(16)}, not TPM_GENERATED_VALUE 0xff544347: not made by a TPM`,
      { details: { magic } },
    );
  }
  const type = r.u16be('type');
  if (type !== TPM_ST_ATTEST_QUOTE) {
    throw new TpmError(ERR_TPM_QUOTE_TYPE, `TPMS_ATTEST.type is 0x${type.toString(16)}, not TPM_ST_ATTEST_QUOTE (0x8018)`, {
      details: { type },
    });
  }
  const qualifiedSigner = r.tpm2b('qualifiedSigner', 2 + 64);
  const extraData = r.tpm2b('extraData', 64);
  const clock = r.u64be('clockInfo.clock');
  const resetCount = r.u32be('clockInfo.resetCount');
  const restartCount = r.u32be('clockInfo.restartCount');
  const safe = r.u8('clockInfo.safe');
  if (safe > 1) throw fail('clockInfo.safe', r.offset - 1, `TPMI_YES_NO is ${safe}`);
  const firmwareVersion = r.u64be('firmwareVersion');
  const pcrSelect = readPcrSelection(r);
  const pcrDigest = r.tpm2b('pcrDigest', 64);
  r.done('end');
  return {
    magic,
    type,
    qualifiedSigner,
    extraData,
    clockInfo: { clock, resetCount, restartCount, safe: safe === 1 },
    firmwareVersion,
    pcrSelect,
    pcrDigest,
  };
}
