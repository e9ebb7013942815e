import type { SourceStatus } from '../../../shared/src/report/types.js';
import { isNodesealError } from '../../../shared/src/errors.js';
import { activeBanks, handleExists, TPM_PT, tpmProperty } from './capability.js';
import { EsysContext } from './esys.js';
import { ERR_TPM_AK_MISSING, ERR_TPM_BANK, ERR_TPM_UNAVAILABLE } from './errors.js';
import { checkAkPublic, DEFAULT_AK_HANDLE, EK_RSA_HANDLE, readPublic, withEk, withPersistent } from './keys.js';
import { EK_CERT_NV, ekCertificate } from './nv.js';
import { bankName } from './wire.js';

/** The collector refuses enrolment without an EK certificate unless an operator decides (docs/errors.md). */
const ERR_ENROLL_EK_CERT_MISSING = 'ERR_ENROLL_EK_CERT_MISSING';

/** What `nodeseal agent --check` learns from a TPM without changing it (no AK is created). */
export interface TpmProbe {
  /** Whether the TCTI opens and the TPM answers. */
  tpm: SourceStatus & { manufacturer?: string };
  /** Active PCR banks; error when sha256 (the bank the agent quotes) is not active. */
  pcrs: SourceStatus & { banks?: string[] };
  /** The AK at its persistent handle: unavailable until the agent's first report creates it. */
  ak: SourceStatus & { handle: string };
  /** The RSA EK: persistent at 0x81010001, or derivable from the TCG default template. */
  ek: SourceStatus & { persistent?: boolean };
  /** The RSA EK certificate in NV (what enrolment presents to the collector). */
  ekCert: SourceStatus & { bytes?: number };
}

const hex = (n: number) => `0x${n.toString(16)}`;

function failed(e: unknown): SourceStatus {
  if (!isNodesealError(e)) return { status: 'error', reason: String((e as Error)?.message ?? e).slice(0, 300), code: 'ERR_INTERNAL' };
  return { status: e.code === ERR_TPM_UNAVAILABLE ? 'unavailable' : 'error', reason: e.message.slice(0, 300), code: e.code };
}

function ascii(v: number | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = Buffer.alloc(4);
  s.writeUInt32BE(v >>> 0);
  return (
    s
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '')
      .trim() || undefined
  );
}

/**
 * Opens `tcti`, asks the TPM what the agent will need and closes it again. Read-only: the AK is
 * looked up, never created; the EK is read from its persistent handle or created transiently from
 * the default template and flushed (the same as enrolment does). Never throws for a TPM problem:
 * each part carries its own status, reason and code.
 */
export async function probeTpm(tcti: string, opts: { commandTimeoutMs?: number; akHandle?: number } = {}): Promise<TpmProbe> {
  const akHandle = opts.akHandle ?? DEFAULT_AK_HANDLE;
  const notReached = (why: string): SourceStatus => ({ status: 'unavailable', reason: why, code: ERR_TPM_UNAVAILABLE });
  let ctx: EsysContext;
  let manufacturer: string | undefined;
  try {
    ctx = await EsysContext.open(tcti, opts.commandTimeoutMs ?? 60_000);
  } catch (e) {
    const s = failed(e);
    const why = 'TPM not reachable';
    return {
      tpm: s,
      pcrs: notReached(why),
      ak: { ...notReached(why), handle: hex(akHandle) },
      ek: notReached(why),
      ekCert: notReached(why),
    };
  }
  try {
    try {
      manufacturer = ascii(await tpmProperty(ctx, TPM_PT.manufacturer));
    } catch (e) {
      const s = failed(e);
      const reason = `TPM at '${tcti}' does not answer: ${s.reason ?? ''}`;
      const why = 'TPM not answering';
      return {
        tpm: { status: s.status, reason, code: s.code ?? ERR_TPM_UNAVAILABLE },
        pcrs: notReached(why),
        ak: { ...notReached(why), handle: hex(akHandle) },
        ek: notReached(why),
        ekCert: notReached(why),
      };
    }
    const tpm: TpmProbe['tpm'] = { status: 'ok', ...(manufacturer ? { manufacturer } : {}) };
    let pcrs: TpmProbe['pcrs'];
    try {
      const banks = (await activeBanks(ctx)).map((b) => bankName(b.alg));
      pcrs = banks.includes('sha256')
        ? { status: 'ok', banks }
        : {
            status: 'error',
            banks,
            reason: `the sha256 PCR bank is not active (active: ${banks.join(', ') || 'none'})`,
            code: ERR_TPM_BANK,
          };
    } catch (e) {
      pcrs = failed(e);
    }
    let ak: TpmProbe['ak'];
    try {
      if (await handleExists(ctx, akHandle)) {
        const pub = await withPersistent(ctx, akHandle, (tr) => readPublic(ctx, tr));
        checkAkPublic(pub, 'ecc', akHandle);
        ak = { status: 'ok', handle: hex(akHandle) };
      } else {
        ak = {
          status: 'unavailable',
          handle: hex(akHandle),
          reason: `no AK at ${hex(akHandle)} yet: the agent creates it on its first report`,
          code: ERR_TPM_AK_MISSING,
        };
      }
    } catch (e) {
      ak = { ...failed(e), handle: hex(akHandle) };
    }
    let ek: TpmProbe['ek'];
    try {
      const persistent = await handleExists(ctx, EK_RSA_HANDLE);
      await withEk(ctx, async () => undefined);
      ek = { status: 'ok', persistent };
    } catch (e) {
      ek = failed(e);
    }
    let ekCert: TpmProbe['ekCert'];
    try {
      const der = await ekCertificate(ctx, 'rsa');
      ekCert = der
        ? { status: 'ok', bytes: der.length }
        : {
            status: 'unavailable',
            reason: `no RSA EK certificate at NV ${hex(EK_CERT_NV.rsa)}: a collector checking EK certificates (--ek-ca-dir) needs an operator decision for this node`,
            code: ERR_ENROLL_EK_CERT_MISSING,
          };
    } catch (e) {
      ekCert = failed(e);
    }
    return { tpm, pcrs, ak, ek, ekCert };
  } finally {
    ctx.close();
  }
}
