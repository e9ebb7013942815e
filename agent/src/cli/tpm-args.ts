import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';
import { DEFAULT_TCTI } from '../tpm/tpm.js';

/** Flags shared by the `tpm` verbs. */
export const TPM_FLAG_HELP = [
  '  --tcti T        TPM transport (default $NODESEAL_TPM_TCTI or device:/dev/tpmrm0;',
  '                  e.g. swtpm:host=127.0.0.1,port=2321)',
].join('\n');

export function tctiFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const t = flag ?? env.NODESEAL_TPM_TCTI ?? DEFAULT_TCTI;
  if (!/^[a-z0-9_-]+(:.*)?$/i.test(t) || t.length > 512) throw new UserError(ERR_USAGE, `--tcti '${t}' is not NAME[:CONFIG]`);
  return t;
}

/** `--pcrs 0,1,7`: distinct PCR indices 0-23. */
export function parsePcrList(v: string | undefined, fallback: number[]): number[] {
  if (v === undefined) return fallback;
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((p) => !/^\d{1,2}$/.test(p) || Number(p) > 23))
    throw new UserError(ERR_USAGE, `--pcrs must be a comma-separated list of PCR indices 0-23, not '${v}'`);
  const pcrs = parts.map(Number);
  if (new Set(pcrs).size !== pcrs.length) throw new UserError(ERR_USAGE, `--pcrs lists a PCR twice: '${v}'`);
  return pcrs;
}

/** `--nonce HEX`: 1 to 64 bytes (the TPM's qualifyingData limit). */
export function parseNonce(v: string | undefined): Buffer {
  if (v === undefined) throw new UserError(ERR_USAGE, '--nonce HEX is required');
  if (!/^([0-9a-fA-F]{2}){1,64}$/.test(v)) throw new UserError(ERR_USAGE, `--nonce must be 1 to 64 bytes of hex, not '${v}'`);
  return Buffer.from(v, 'hex');
}

/** `--ak-handle 0x81010002`: an owner persistent handle. */
export function parseAkHandle(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = /^0x[0-9a-fA-F]{8}$/.test(v) ? Number.parseInt(v.slice(2), 16) : NaN;
  if (!(n >= 0x81000000 && n <= 0x817fffff))
    throw new UserError(ERR_USAGE, `--ak-handle must be an owner persistent handle 0x81000000-0x817fffff, not '${v}'`);
  return n;
}
