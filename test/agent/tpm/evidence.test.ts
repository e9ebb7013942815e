import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTpmEvidence, openTpm, withTpm, ERR_TPM_EVENTLOG, ERR_TPM_UNAVAILABLE, type Tpm } from '../../../agent/src/index.js';
import type { TpmEvidenceOk } from '../../../shared/src/report/types.js';
import { EV, parseEventLog, replay } from '../../../shared/src/eventlog/index.js';
import { verifyQuote, ERR_TPM_QUOTE_NONCE } from '../../../shared/src/tpm/index.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';

/** A real firmware log (provenance: test/fixtures/SOURCES.md), sha256 only, PCRs 0-7, no StartupLocality. */
const LOG = resolve('test/fixtures/eventlogs/go-attestation/crypto_agile_eventlog');

let tpm: Swtpm;
let dir: string;

beforeAll(async () => {
  // No EK certificate and no persistent EK: the EK comes from the TCG default template.
  tpm = await startSwtpm();
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-tpm-evidence-'));
  // Replay the real log's measurements into the software TPM, in log order, in one tool run.
  const log = parseEventLog(await readFile(LOG));
  const specs = log.events
    .filter((e) => e.type !== EV.NO_ACTION && e.digests.sha256)
    .map((e) => `${e.pcr}:sha256=${e.digests.sha256!.toString('hex')}`);
  expect(specs.length).toBeGreaterThan(20);
  for (let i = 0; i < specs.length; i += 8) await tpm.tools('tpm2_pcrextend', specs.slice(i, i + 8));
}, 30_000);

afterAll(async () => {
  await tpm?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('collectTpmEvidence', () => {
  it('quotes the nonce, reads the banks and the event log; the shared verifier and replay accept it', async () => {
    const nonce = Buffer.from('c0ffee'.repeat(10), 'hex');
    const ev = await collectTpmEvidence({ tcti: tpm.tcti, nonce, pcrs: [0, 1, 2, 3, 4, 5, 6, 7], eventLogPath: LOG });
    expect(ev.status).toBe('ok');
    const ok = ev as TpmEvidenceOk;
    expect(ok.eventLogStatus).toEqual({ status: 'ok' });
    expect(Buffer.from(ok.eventLog!, 'base64').equals(await readFile(LOG))).toBe(true);
    expect(ok.quote.attest).toMatch(/^[0-9a-f]+$/);

    verifyQuote({ attest: ok.quote.attest, signature: ok.quote.signature, akPublic: ok.akPublic, nonce, pcrs: ok.pcrs });
    const result = replay(parseEventLog(Buffer.from(ok.eventLog!, 'base64')), ok.pcrs);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.banks.sha256!.matched).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('with nonce null quotes over empty qualifyingData (history, never fresh proof)', async () => {
    const ev = (await collectTpmEvidence({ tcti: tpm.tcti, nonce: null, pcrs: [0], eventLogPath: LOG })) as TpmEvidenceOk;
    expect(ev.status).toBe('ok');
    expect(() =>
      verifyQuote({ attest: ev.quote.attest, signature: ev.quote.signature, akPublic: ev.akPublic, nonce: Buffer.alloc(0), pcrs: ev.pcrs }),
    ).not.toThrow();
    expect(() =>
      verifyQuote({
        attest: ev.quote.attest,
        signature: ev.quote.signature,
        akPublic: ev.akPublic,
        nonce: Buffer.alloc(32),
        pcrs: ev.pcrs,
      }),
    ).toThrow(expect.objectContaining({ code: ERR_TPM_QUOTE_NONCE }));
  });

  it('reports a missing event log in eventLogStatus and still carries the quote', async () => {
    const ev = (await collectTpmEvidence({
      tcti: tpm.tcti,
      nonce: Buffer.from('01', 'hex'),
      eventLogPath: join(dir, 'no-such-log'),
    })) as TpmEvidenceOk;
    expect(ev.status).toBe('ok');
    expect(ev.eventLog).toBeNull();
    expect(ev.eventLogStatus).toMatchObject({ status: 'unavailable', code: ERR_TPM_EVENTLOG });
  });

  it('quotes again when a PCR is extended between the quote and the PCR read', async () => {
    let extended = false;
    // A Tpm wrapper that extends PCR 7 with tpm2-tools right after the first quote (swtpm serves
    // one client at a time, so it closes our context around the extend and reopens).
    const open = async <T>(tcti: string, fn: (t: Tpm) => Promise<T>): Promise<T> => {
      let inner = await openTpm(tcti);
      const proxy: Tpm = {
        readPcrs: (b) => inner.readPcrs(b),
        ensureAk: (o) => inner.ensureAk(o),
        ekPublic: () => inner.ekPublic(),
        ekCertificate: (a) => inner.ekCertificate(a),
        activateCredential: (c, s) => inner.activateCredential(c, s),
        close: () => inner.close(),
        quote: async (n, p, b) => {
          const q = await inner.quote(n, p, b);
          if (!extended) {
            extended = true;
            await inner.close();
            await tpm.tools('tpm2_pcrextend', [`7:sha256=${'ab'.repeat(32)}`]);
            inner = await openTpm(tcti);
          }
          return q;
        },
      };
      try {
        return await fn(proxy);
      } finally {
        await proxy.close();
      }
    };
    const nonce = Buffer.from('beef', 'hex');
    const ev = (await collectTpmEvidence({ tcti: tpm.tcti, nonce, pcrs: [7], eventLogPath: LOG, open })) as TpmEvidenceOk;
    expect(extended).toBe(true);
    expect(ev.status).toBe('ok');
    verifyQuote({ attest: ev.quote.attest, signature: ev.quote.signature, akPublic: ev.akPublic, nonce, pcrs: ev.pcrs });
  });

  it('creates the EK from the TCG default template when none is persistent (same key as tpm2_createek)', async () => {
    const ours = await withTpm(tpm.tcti, (t) => t.ekPublic());
    await tpm.tools('tpm2_createek', ['-G', 'rsa', '-c', join(dir, 'ek.ctx'), '-u', join(dir, 'ek.tss')]);
    const theirs = await readFile(join(dir, 'ek.tss'));
    expect(ours.equals(theirs)).toBe(true);
  });

  it('never throws for an absent TPM: status unavailable with the reason and code', async () => {
    const ev = await collectTpmEvidence({ tcti: 'swtpm:host=127.0.0.1,port=1', nonce: Buffer.from('01', 'hex'), eventLogPath: LOG });
    expect(ev).toMatchObject({ status: 'unavailable', code: ERR_TPM_UNAVAILABLE });
    expect((ev as { reason: string }).reason).toMatch(/port=1/);
  });
});
