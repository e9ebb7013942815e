import { createHash } from 'node:crypto';
import { canonicalJson } from '../../../shared/src/canonical.js';
import { NodesealError } from '../../../shared/src/errors.js';
import { isNodesealError } from '../../../shared/src/errors.js';
import { ERR_EVENTLOG_UNVERIFIED, parseEventLog, replay, secureBootState } from '../../../shared/src/eventlog/index.js';
import type { VerifiedEventLog } from '../../../shared/src/eventlog/index.js';
import { verifyQuote } from '../../../shared/src/tpm/index.js';
import { createInventoryDiffer } from '../drift/unchanged.js';
import { evaluate } from './verdict.js';
import type { EvidencePorts, MeasuredBoot, QuoteOutcome } from './verify-report.js';

export const ERR_EVENTLOG_BASE64 = 'ERR_EVENTLOG_BASE64';

/** Successful replays remembered (keys only, about 100 bytes each). */
const REPLAY_CACHE_MAX = 16_384;

/**
 * The Secure Boot state measured into PCR7 of a replayed log: null when PCR7 was not verified
 * against the quote or the SecureBoot variable was not measured (the inventory's claim then stands).
 */
export function measuredSecureBoot(log: VerifiedEventLog): boolean | null {
  try {
    return secureBootState(log).enabled;
  } catch (e) {
    if (isNodesealError(e) && e.code === ERR_EVENTLOG_UNVERIFIED) return null;
    throw e;
  }
}

/**
 * The event-log check, pure: canonical base64, parse, replay to the quoted PCRs. Throws a coded
 * error when the log does not replay (or a replayed PCR7 variable's data is not what was measured);
 * returns what the replayed log proves about the boot.
 */
export function replayEventLogFull(b64: string, quoted: QuoteOutcome): MeasuredBoot {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length === 0 || bytes.toString('base64') !== b64)
    throw new NodesealError(ERR_EVENTLOG_BASE64, 'event log is not canonical base64');
  const r = replay(parseEventLog(bytes), quoted.pcrs);
  if (!r.ok) throw r.error;
  return { secureBoot: measuredSecureBoot(r.log) };
}

/**
 * The same check with a cache of successes: the outcome is a pure function of the log text and
 * the quoted PCR values, so a byte-identical log replayed against identical quoted PCRs (an
 * unchanged node's every report) is looked up by sha256 of both instead of parsed again.
 * Failures are never cached (they are recomputed, and throw the same coded error).
 */
export function createReplayCache(max = REPLAY_CACHE_MAX): {
  replay(b64: string, quoted: QuoteOutcome): MeasuredBoot;
  readonly hits: number;
} {
  const ok = new Map<string, MeasuredBoot>();
  let hits = 0;
  return {
    replay(b64, quoted) {
      const key = createHash('sha256').update(b64).update('\u0000').update(canonicalJson(quoted.pcrs)).digest('base64');
      const seen = ok.get(key);
      if (seen) {
        hits++;
        return seen;
      }
      const out = replayEventLogFull(b64, quoted);
      if (ok.size >= max) ok.delete(ok.keys().next().value!);
      ok.set(key, out);
      return out;
    },
    get hits() {
      return hits;
    },
  };
}

/**
 * The real evidence checks behind the pipeline: quote verification (shared/src/tpm), event-log
 * parse and replay (shared/src/eventlog), drift and verdict (collector/src/drift,
 * pipeline/verdict.ts). Wired once by server.ts; tests may pass their own ports.
 *
 * Unchanged evidence is not recomputed: a successful replay is cached by the log's and the
 * quoted PCRs' digest, and an inventory whose checked digest equals the baseline's skips the
 * deep diff (drift/unchanged.ts). Both give exactly the full computation's result.
 */
export function createEvidencePorts(): EvidencePorts {
  const replays = createReplayCache();
  const diffInventory = createInventoryDiffer();
  return {
    verifyQuote(input): QuoteOutcome {
      const v = verifyQuote({
        attest: input.attest,
        signature: input.signature,
        akPublic: input.akPublic,
        nonce: input.nonce ?? new Uint8Array(0),
        pcrs: input.pcrs,
      });
      // Only the PCRs the signed quote selected are trusted from here on.
      const pcrs: Record<string, Record<string, string>> = {};
      for (const sel of v.attest.pcrSelect) {
        const bank = (pcrs[sel.bank] ??= {});
        for (const i of sel.pcrs) bank[String(i)] = input.pcrs[sel.bank]![String(i)]!.toLowerCase();
      }
      return { pcrs };
    },
    replayEventLog: (b64, quoted) => replays.replay(b64, quoted),
    evaluate: (input) => {
      // Callers that did not replay the log here (approval re-reads a stored report whose log
      // replayed when it was stored) get the measured state from the same cached replay.
      const ev = input.evidence;
      if (ev.measuredSecureBoot === undefined && ev.pcrs !== null && ev.eventLog !== null) {
        let measured: boolean | null = null;
        try {
          measured = replays.replay(ev.eventLog, { pcrs: ev.pcrs }).secureBoot;
        } catch {
          // The log does not replay against these PCRs: nothing is measured, the claim stands.
        }
        return evaluate({ ...input, evidence: { ...ev, measuredSecureBoot: measured }, diffInventory });
      }
      return evaluate({ ...input, diffInventory });
    },
  };
}
