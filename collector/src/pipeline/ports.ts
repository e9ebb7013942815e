import { NodesealError } from '../../../shared/src/errors.js';
import { parseEventLog, replay } from '../../../shared/src/eventlog/index.js';
import { verifyQuote } from '../../../shared/src/tpm/index.js';
import { evaluate } from './verdict.js';
import type { EvidencePorts, QuoteOutcome } from './verify-report.js';

export const ERR_EVENTLOG_BASE64 = 'ERR_EVENTLOG_BASE64';

/**
 * The real evidence checks behind the pipeline: quote verification (shared/src/tpm), event-log
 * parse and replay (shared/src/eventlog), drift and verdict (collector/src/drift,
 * pipeline/verdict.ts). Wired once by server.ts; tests may pass their own ports.
 */
export function createEvidencePorts(): EvidencePorts {
  return {
    verifyQuote(input): QuoteOutcome {
      const v = verifyQuote({ attest: input.attest, signature: input.signature, akPublic: input.akPublic, nonce: input.nonce ?? new Uint8Array(0), pcrs: input.pcrs });
      // Only the PCRs the signed quote selected are trusted from here on.
      const pcrs: Record<string, Record<string, string>> = {};
      for (const sel of v.attest.pcrSelect) {
        const bank = (pcrs[sel.bank] ??= {});
        for (const i of sel.pcrs) bank[String(i)] = input.pcrs[sel.bank]![String(i)]!.toLowerCase();
      }
      return { pcrs };
    },
    replayEventLog(b64, quoted) {
      const bytes = Buffer.from(b64, 'base64');
      if (bytes.length === 0 || bytes.toString('base64') !== b64) throw new NodesealError(ERR_EVENTLOG_BASE64, 'event log is not canonical base64');
      const r = replay(parseEventLog(bytes), quoted.pcrs);
      if (!r.ok) throw r.error;
    },
    evaluate: (input) => evaluate(input),
  };
}
