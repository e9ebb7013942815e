import type { SecureBootState } from '../../../shared/src/report/types.js';
import { ERR_SOURCE_ABSENT } from './errors.js';
import { OK, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
const EFIVARS = '/sys/firmware/efi/efivars';

/** An efivarfs file is 4 attribute bytes then the value; SecureBoot/SetupMode are one byte. Pure. */
export function efiBool(bytes: Buffer | null): boolean | null {
  if (bytes === null || bytes.length < 5) return null;
  return bytes[4] === 1;
}

export async function collectSecureBoot(ctx: CollectContext): Promise<SourceResult<SecureBootState | null>> {
  try {
    if ((await ctx.files.list('/sys/firmware/efi')) === null) {
      return { status: unavailable(ERR_SOURCE_ABSENT, 'not booted with UEFI (/sys/firmware/efi is absent): no Secure Boot'), value: null };
    }
    const enabled = efiBool(await ctx.files.readBytes(`${EFIVARS}/SecureBoot-${EFI_GLOBAL}`));
    const setupMode = efiBool(await ctx.files.readBytes(`${EFIVARS}/SetupMode-${EFI_GLOBAL}`));
    return { status: OK, value: { enabled, setupMode } };
  } catch (e) {
    return { status: statusFromError(e), value: null };
  }
}
