import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { SourceStatus, TpmEvidence } from '../../../shared/src/report/types.js';
import { isNodesealError } from '../../../shared/src/errors.js';
import type { Files } from '../ports/files.js';
import { RootedFiles } from '../ports/rooted-files.js';
import { TpmError, ERR_TPM_COMMAND, ERR_TPM_EVENTLOG, ERR_TPM_UNAVAILABLE } from './errors.js';
import type { AkAlg } from './templates.js';
import { withTpm, type PcrValues, type Tpm } from './tpm.js';
import { WireReader, bankName, readPcrSelection } from './wire.js';

/** Where Linux exposes the firmware's TCG event log. */
export const DEFAULT_EVENT_LOG_PATH = '/sys/kernel/security/tpm0/binary_bios_measurements';
/** Default quoted PCRs: the firmware and boot-loader measurements. */
export const DEFAULT_QUOTE_PCRS = [0, 1, 2, 3, 4, 5, 6, 7];
/** Event logs of real machines are tens to hundreds of KiB; anything past this is refused. */
export const MAX_EVENT_LOG_BYTES = 8 * 1024 * 1024;
const QUOTE_ATTEMPTS = 3;

export interface CollectTpmEvidenceOptions {
  tcti: string;
  /**
   * The collector's challenge. null (a report made while disconnected) quotes over EMPTY
   * qualifyingData: the quote is history, and a verifier expecting a nonce rejects it.
   */
  nonce: Buffer | null;
  pcrs?: number[];
  eventLogPath?: string;
  files?: Pick<Files, 'readBytes'>;
  akHandle?: number;
  akAlg?: AkAlg;
  /** Longest wait for one TPM command (default 120 s); past it the round reports the TPM unavailable. */
  commandTimeoutMs?: number;
  logger?: Logger;
  /** Test seam: how the TPM is opened (defaults to withTpm). */
  open?: <T>(tcti: string, fn: (tpm: Tpm) => Promise<T>) => Promise<T>;
}

/** pcrDigest of a TPMS_ATTEST of type quote, with the selection it covers. */
export function quotedPcrDigest(attest: Buffer): { selection: Array<{ alg: number; pcrs: number[] }>; digest: Buffer } {
  const r = new WireReader(attest, 'TPMS_ATTEST');
  r.u32(); // magic
  r.u16(); // type
  r.tpm2b(); // qualifiedSigner
  r.tpm2b(); // extraData
  r.bytes(17); // clockInfo
  r.bytes(8); // firmwareVersion
  const selection = readPcrSelection(r);
  return { selection, digest: r.tpm2b() };
}

/** Whether the PCR values read agree with the digest the TPM signed (no extend in between). */
function consistent(attest: Buffer, pcrs: PcrValues): boolean {
  const { selection, digest } = quotedPcrDigest(attest);
  const h = createHash(digest.length === 48 ? 'sha384' : digest.length === 20 ? 'sha1' : 'sha256');
  for (const s of selection) {
    const bank = pcrs[bankName(s.alg)];
    for (const p of s.pcrs) {
      const v = bank?.[String(p)];
      if (v === undefined) return false;
      h.update(Buffer.from(v, 'hex'));
    }
  }
  return h.digest().equals(digest);
}

async function readEventLog(files: Pick<Files, 'readBytes'>, path: string): Promise<{ eventLog: string | null; status: SourceStatus }> {
  try {
    const buf = await files.readBytes(path);
    if (buf === null)
      return { eventLog: null, status: { status: 'unavailable', reason: `${path} does not exist`, code: ERR_TPM_EVENTLOG } };
    if (buf.length > MAX_EVENT_LOG_BYTES) {
      return {
        eventLog: null,
        status: { status: 'error', reason: `${path} is larger than ${MAX_EVENT_LOG_BYTES} bytes`, code: ERR_TPM_EVENTLOG },
      };
    }
    return { eventLog: buf.toString('base64'), status: { status: 'ok' } };
  } catch (e) {
    const code = isNodesealError(e) ? e.code : ERR_TPM_EVENTLOG;
    return { eventLog: null, status: { status: 'error', reason: (e as Error).message, code } };
  }
}

/**
 * One attestation round: open the TPM, ensure the AK, quote the PCRs over the nonce, read every
 * active bank, close. PCRs are read after the quote and checked against its pcrDigest; on a
 * mismatch (an extend raced the round) the round is repeated. Never throws for a missing TPM:
 * returns { status: 'unavailable', reason, code }. Other coded failures give status 'error'.
 */
export async function collectTpmEvidence(opts: CollectTpmEvidenceOptions): Promise<TpmEvidence> {
  const files = opts.files ?? new RootedFiles('/');
  const open =
    opts.open ??
    (<T>(tcti: string, fn: (tpm: Tpm) => Promise<T>) =>
      withTpm(tcti, fn, {
        ...(opts.commandTimeoutMs !== undefined && { commandTimeoutMs: opts.commandTimeoutMs }),
        ...(opts.logger && { logger: opts.logger }),
      }));
  const quotePcrs = opts.pcrs ?? DEFAULT_QUOTE_PCRS;
  const nonce = opts.nonce ?? Buffer.alloc(0);
  try {
    const round = await open(opts.tcti, async (tpm) => {
      const akPublic = await tpm.ensureAk({ ...(opts.akHandle !== undefined && { handle: opts.akHandle }), alg: opts.akAlg ?? 'ecc' });
      for (let attempt = 1; ; attempt++) {
        const quote = await tpm.quote(nonce, quotePcrs, 'sha256');
        const pcrs = await tpm.readPcrs();
        if (consistent(quote.attest, pcrs)) return { akPublic, quote, pcrs };
        opts.logger?.warn({ attempt }, 'PCRs changed during the attestation round; quoting again');
        if (attempt >= QUOTE_ATTEMPTS) throw new TpmError(ERR_TPM_COMMAND, `PCRs kept changing during ${QUOTE_ATTEMPTS} quotes`);
      }
    });
    const log = await readEventLog(files, opts.eventLogPath ?? DEFAULT_EVENT_LOG_PATH);
    return {
      status: 'ok',
      pcrs: round.pcrs,
      quote: { attest: round.quote.attest.toString('hex'), signature: round.quote.signature.toString('hex') },
      akPublic: round.akPublic.toString('hex'),
      eventLog: log.eventLog,
      eventLogStatus: log.status,
    };
  } catch (e) {
    if (!isNodesealError(e)) throw e;
    opts.logger?.warn({ code: e.code }, 'no TPM evidence this round');
    return { status: e.code === ERR_TPM_UNAVAILABLE ? 'unavailable' : 'error', reason: e.message, code: e.code };
  }
}
