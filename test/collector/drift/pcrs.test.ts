import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diffPcrs, pcrClaim, type PcrExplainer } from '../../../collector/src/drift/pcrs.js';
import { diffAk, akFingerprint } from '../../../collector/src/drift/ak.js';
import { EV, buildEventLog, imageLoadData } from '../../../shared/src/eventlog/index.js';

const dir = 'test/fixtures/eventlogs/go-tpm-tools/';
const banks = (name: string): Record<string, Record<string, string>> => JSON.parse(readFileSync(`${dir}${name}.pcrs.json`, 'utf8')).banks;
const log = (name: string): string => readFileSync(`${dir}${name}.bin`).toString('base64');

// Two real Ubuntu 21.04 GCE boots (go-tpm-tools test data) with their TPM PCR values.
const A = { pcrs: banks('ubuntu-2104-no-dbx'), eventLog: log('ubuntu-2104-no-dbx') };
const B = { pcrs: banks('ubuntu-2104-no-secure-boot'), eventLog: log('ubuntu-2104-no-secure-boot') };

/** PCR indices whose sha256 value differs, read from the fixtures themselves. */
const differing = Object.keys(A.pcrs.sha256!)
  .filter((i) => A.pcrs.sha256![i] !== B.pcrs.sha256![i])
  .map(Number)
  .sort((x, y) => x - y);

describe('diffPcrs on two real boots', () => {
  it('finds no drift between a boot and itself', () => {
    expect(diffPcrs(A, { ...A })).toEqual([]);
  });

  it('gives one tpm.pcr_changed per differing sha256 PCR, with old and new values', () => {
    expect(differing.length).toBeGreaterThan(0);
    const rs = diffPcrs(A, B);
    expect(rs.map((r) => r.code)).toEqual(differing.map(() => 'tpm.pcr_changed'));
    expect(rs.map((r) => (r.before as { pcr: number }).pcr)).toEqual(differing);
    for (const r of rs) {
      const pcr = (r.before as { pcr: number }).pcr;
      expect(r.before).toEqual({ pcr, bank: 'sha256', value: A.pcrs.sha256![String(pcr)] });
      expect(r.after).toMatchObject({ pcr, bank: 'sha256', value: B.pcrs.sha256![String(pcr)] });
      expect(r.claim).toBe(pcrClaim(pcr));
    }
  });

  it('explains each changed PCR with the event-log entries that differ', () => {
    const rs = diffPcrs(A, B);
    const byPcr = new Map(rs.map((r) => [(r.before as { pcr: number }).pcr, r]));
    const pcr4 = byPcr.get(4)!;
    expect(pcr4.detail).toBe('PCR 4 (sha256) changed: EV_EFI_BOOT_SERVICES_APPLICATION \\EFI\\ubuntu\\shimx64.efi digest changed');
    const ev4 = (pcr4.after as { events: Array<{ kind: string; eventType: string; pcr: number; oldDigest: string; newDigest: string }> })
      .events;
    expect(ev4).toHaveLength(1);
    expect(ev4[0]).toMatchObject({ kind: 'changed', pcr: 4, eventType: 'EV_EFI_BOOT_SERVICES_APPLICATION' });
    expect(ev4[0]!.oldDigest).not.toBe(ev4[0]!.newDigest);
    expect(byPcr.get(7)!.detail).toMatch(/^PCR 7 \(sha256\) changed: EV_EFI_VARIABLE_DRIVER_CONFIG dbx /);
    for (const r of rs) {
      expect(r.detail).not.toMatch(/\n/);
      expect(((r.after as { events: unknown[] }).events ?? []).length).toBeGreaterThan(0);
    }
  });

  it('reports PCR index and values only when an event log is missing', () => {
    const rs = diffPcrs(A, { ...B, eventLog: null });
    expect(rs).toHaveLength(differing.length);
    expect(rs[0]!.detail).toBe(`PCR ${differing[0]} (sha256) changed`);
    expect(rs[0]!.after).toMatchObject({ explanation: 'event logs not available on both sides' });
  });

  it('says why when the logs cannot be compared, and still reports the PCR', () => {
    const rs = diffPcrs(A, { ...B, eventLog: Buffer.from('not an event log').toString('base64') });
    expect(rs).toHaveLength(differing.length);
    expect(rs[0]!.detail).toMatch(/event logs could not be compared \(ERR_EVENTLOG_[A-Z_]+\)/);
  });

  it('uses an injected explainer (the seam for other log formats)', () => {
    const calls: number[][] = [];
    const explain: PcrExplainer = (_a, _b, pcrs) => {
      calls.push(pcrs);
      return {
        byPcr: new Map([
          [
            4,
            [
              {
                kind: 'added',
                pcr: 4,
                oldIndex: null,
                newIndex: 9,
                eventType: 'EV_EFI_BOOT_SERVICES_APPLICATION',
                oldDigest: null,
                newDigest: 'ab',
                description: 'evil.efi',
              },
            ],
          ],
        ]),
      };
    };
    const rs = diffPcrs(A, B, { explain });
    expect(calls).toEqual([differing]);
    expect(rs.find((r) => (r.before as { pcr: number }).pcr === 4)!.detail).toBe(
      'PCR 4 (sha256) changed: EV_EFI_BOOT_SERVICES_APPLICATION evil.efi added',
    );
  });

  it('flags a PCR that is no longer quoted, and falls back to the common bank', () => {
    const cur = { pcrs: { sha1: { ...A.pcrs.sha1! } }, eventLog: null };
    delete cur.pcrs.sha1['14'];
    const rs = diffPcrs({ pcrs: { sha1: A.pcrs.sha1! }, eventLog: null }, cur);
    expect(rs.map((r) => [r.detail, r.before, (r.after as { value: unknown }).value])).toEqual([
      ['PCR 14 (sha1) no longer quoted', { pcr: 14, bank: 'sha1', value: A.pcrs.sha1!['14'] }, null],
    ]);
    const noCommon = diffPcrs({ pcrs: { sha1: {} }, eventLog: null }, { pcrs: { sha256: {} }, eventLog: null });
    expect(noCommon.map((r) => r.detail)).toEqual(['quoted PCR banks changed (sha1 → sha256)']);
  });

  it('explains an extension made like swtpm tests do (a new bootloader measured into PCR 4)', () => {
    const boot = [
      { pcr: 0, type: EV.S_CRTM_VERSION, data: Buffer.from('firmware 1.0') },
      { pcr: 4, type: EV.EFI_BOOT_SERVICES_APPLICATION, data: imageLoadData('\\EFI\\BOOT\\shimx64.efi') },
    ];
    const base = buildEventLog(boot);
    const cur = buildEventLog([
      ...boot,
      { pcr: 4, type: EV.EFI_BOOT_SERVICES_APPLICATION, data: imageLoadData('\\EFI\\BOOT\\newgrub.efi') },
    ]);
    const rs = diffPcrs(
      { pcrs: base.pcrs, eventLog: base.bytes.toString('base64') },
      { pcrs: cur.pcrs, eventLog: cur.bytes.toString('base64') },
    );
    expect(rs.map((r) => (r.before as { pcr: number }).pcr)).toEqual([4]);
    expect((r0(rs).after as { events: Array<{ kind: string }> }).events.map((e) => e.kind)).toEqual(['added']);
    expect(r0(rs).detail).toBe('PCR 4 (sha256) changed: EV_EFI_BOOT_SERVICES_APPLICATION \\EFI\\BOOT\\newgrub.efi added');
  });
});

function r0<T>(xs: T[]): T {
  return xs[0]!;
}

describe('diffAk', () => {
  it('is silent when the AK is the pinned one or nothing is pinned', () => {
    expect(diffAk('00aa', '00AA')).toEqual([]);
    expect(diffAk(null, '00aa')).toEqual([]);
  });
  it('gives tpm.ak_changed with both fingerprints', () => {
    const rs = diffAk('0001aa', '0001bb');
    expect(rs).toEqual([
      {
        code: 'tpm.ak_changed',
        claim: 'instance-identity',
        detail: `attestation key ${akFingerprint('0001aa')} → ${akFingerprint('0001bb')} (differs from the key pinned for this node)`,
        before: akFingerprint('0001aa'),
        after: akFingerprint('0001bb'),
      },
    ]);
    expect(akFingerprint('0001aa')).toMatch(/^sha256:[0-9a-f]{16}$/);
  });
});

describe('diffPcrs bank downgrade', () => {
  it('a baseline quoted in sha1 and sha256 and a report quoting only sha1 (same sha1 values) is drift', () => {
    expect(Object.keys(A.pcrs).sort()).toEqual(['sha1', 'sha256']);
    const rs = diffPcrs(A, { pcrs: { sha1: { ...A.pcrs.sha1! } }, eventLog: A.eventLog });
    expect(rs.map((r) => r.code)).toEqual(['tpm.pcr_changed']);
    expect(rs[0]!.detail).toBe('quoted PCR banks changed: sha256 no longer quoted (sha1,sha256 → sha1)');
    // A bank added to the quote is more evidence, not drift.
    expect(diffPcrs({ pcrs: { sha256: A.pcrs.sha256! }, eventLog: null }, { pcrs: A.pcrs, eventLog: null })).toEqual([]);
  });
});
