/** Readers for tpm2-tools outputs used as independent oracles in the TPM tests. */

/** `tpm2_pcrread` text output → { sha256: { "0": lowercase hex } }. */
export function parsePcrread(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let bank: string | undefined;
  for (const line of text.split('\n')) {
    const b = /^\s+(sha\d+|sm3_256):\s*$/.exec(line);
    if (b) {
      bank = b[1]!;
      out[bank] = {};
      continue;
    }
    const v = /^\s+(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*$/.exec(line);
    if (v && bank) out[bank]![v[1]!] = v[2]!.toLowerCase();
  }
  return out;
}

/**
 * tpm2_makecredential's output file: magic 0xBADCC0DE, version 1, then TPM2B_ID_OBJECT and
 * TPM2B_ENCRYPTED_SECRET (both with their size prefixes).
 */
export function readCredentialFile(b: Buffer): { credentialBlob: Buffer; encryptedSecret: Buffer } {
  if (b.readUInt32BE(0) !== 0xbadcc0de || b.readUInt32BE(4) !== 1) throw new Error('not a tpm2_makecredential file');
  const blobEnd = 8 + 2 + b.readUInt16BE(8);
  const secretEnd = blobEnd + 2 + b.readUInt16BE(blobEnd);
  if (secretEnd !== b.length) throw new Error('tpm2_makecredential file has trailing bytes');
  return { credentialBlob: b.subarray(8, blobEnd), encryptedSecret: b.subarray(blobEnd, secretEnd) };
}
