/**
 * npm run bench:tpm — TPM evidence costs on both sides.
 *
 * Agent: quote latency through koffi + tpm2-tss against a local swtpm (median, p99 over N quotes
 * on one open context), plus a whole attestation round (open, quote, read PCRs, close).
 * Collector: verifyQuote + parse + replay of a 100-event log per second on one core (this
 * process, one thread), printed beside the raw node:crypto ECDSA P-256 verify rate measured in
 * the same run. The swtpm's PCRs are extended with the log's events first, so the quote and the
 * replay agree as they would on a real machine.
 *
 * Options (env): BENCH_QUOTES (default 200), BENCH_ROUNDS (default 50), BENCH_SECONDS (default 2).
 */
import { createHash, createSign, generateKeyPairSync, verify } from 'node:crypto';
import { withTpm, openTpm } from '../../agent/src/tpm/index.js';
import { EV, parseEventLog, replay, simulatedBootLog } from '../../shared/src/eventlog/index.js';
import { verifyQuote } from '../../shared/src/tpm/index.js';
import { startSwtpm } from '../../test/helpers/swtpm.js';

const QUOTES = Number(process.env.BENCH_QUOTES ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  return `median ${percentile(s, 50).toFixed(2)} ms, p99 ${percentile(s, 99).toFixed(2)} ms, min ${s[0]!.toFixed(2)} ms, max ${s[s.length - 1]!.toFixed(2)} ms (n=${s.length})`;
}

/** Runs fn repeatedly for `seconds` and returns calls per second. */
function rate(fn: () => void, seconds: number): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

async function main(): Promise<void> {
  const swtpm = await startSwtpm();
  try {
    const log = simulatedBootLog(100, { banks: ['sha256'] });
    const parsed = parseEventLog(log.bytes);
    const specs = parsed.events.filter((e) => e.type !== EV.NO_ACTION).map((e) => `${e.pcr}:sha256=${e.digests.sha256!.toString('hex')}`);
    for (let i = 0; i < specs.length; i += 16) await swtpm.tools('tpm2_pcrextend', specs.slice(i, i + 16));
    const quoted = Object.keys(log.pcrs.sha256!)
      .map(Number)
      .filter((p) => p < 24);

    // Agent: quotes on one open context.
    const tpm = await openTpm(swtpm.tcti);
    const akPublic = await tpm.ensureAk();
    const nonce = createHash('sha256').update('bench').digest();
    for (let i = 0; i < 10; i++) await tpm.quote(nonce, quoted);
    const quoteMs: number[] = [];
    for (let i = 0; i < QUOTES; i++) {
      const t0 = performance.now();
      await tpm.quote(nonce, quoted);
      quoteMs.push(performance.now() - t0);
    }
    const readMs: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await tpm.readPcrs();
      readMs.push(performance.now() - t0);
    }
    const quote = await tpm.quote(nonce, quoted);
    const pcrs = await tpm.readPcrs(['sha256']);
    await tpm.close();

    // Agent: whole rounds, as collectTpmEvidence does them (open, AK check, quote, PCRs, close).
    const roundMs: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      await withTpm(swtpm.tcti, async (t) => {
        await t.ensureAk();
        await t.quote(nonce, quoted);
        await t.readPcrs();
      });
      roundMs.push(performance.now() - t0);
    }

    // Collector: the same quote and log, verified and replayed in a loop on this thread.
    const check = replay(parseEventLog(log.bytes), pcrs);
    if (!check.ok) throw new Error('bench setup: replay of the simulated log does not match the swtpm PCRs');
    verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic, nonce, pcrs });
    const collectorRate = rate(() => {
      verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic, nonce, pcrs });
      const r = replay(parseEventLog(log.bytes), pcrs);
      if (!r.ok) throw new Error('replay failed');
    }, SECONDS);
    const verifyOnlyRate = rate(() => verifyQuote({ attest: quote.attest, signature: quote.signature, akPublic, nonce, pcrs }), SECONDS);

    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.from(quote.attest);
    const sig = createSign('sha256').update(data).sign(privateKey);
    const rawRate = rate(() => {
      if (!verify('sha256', data, publicKey, sig)) throw new Error('raw verify failed');
    }, SECONDS);

    const lines = [
      `bench:tpm  node ${process.version}, swtpm on 127.0.0.1, ECC P-256 AK, ${quoted.length} sha256 PCRs quoted, log of ${parsed.events.length} events`,
      `agent   quote (open context)        ${summary(quoteMs)}`,
      `agent   readPcrs (all banks)        ${summary(readMs)}`,
      `agent   round (open+AK+quote+PCRs+close) ${summary(roundMs)}`,
      `collector verifyQuote + parse + replay  ${collectorRate.toFixed(0)} /s on one core`,
      `collector verifyQuote alone             ${verifyOnlyRate.toFixed(0)} /s on one core`,
      `raw node:crypto ECDSA P-256 verify      ${rawRate.toFixed(0)} /s on one core (same run)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await swtpm.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:tpm failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
