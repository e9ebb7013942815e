import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  computePcrs,
  EV,
  parseEventLog,
  replay,
  secureBootState,
  WORKAROUNDS,
  type EventLogError,
} from '../../../shared/src/eventlog/index.js';
import { logFixtures, pcrsFixtures, REJECTED } from './fixtures.js';

describe('real event logs', () => {
  const logs = logFixtures();

  it('finds the fixture corpus', () => {
    expect(logs.length).toBeGreaterThanOrEqual(25);
  });

  for (const f of logs) {
    it(`${f.name} parses${REJECTED[f.name] ? ' (rejected on purpose)' : ''}`, () => {
      if (REJECTED[f.name]) {
        expect(() => parseEventLog(f.bytes)).toThrow(expect.objectContaining({ code: REJECTED[f.name] }));
        return;
      }
      const log = parseEventLog(f.bytes);
      expect(log.trust).toBe('unverified');
      expect(log.events.length).toBeGreaterThan(0);
      expect(log.banks.length).toBeGreaterThan(0);
      for (const e of log.events) expect(e.pcr).toBeLessThanOrEqual(23);
    });
  }

  for (const p of pcrsFixtures()) {
    it(`${p.file}: replay equals the recorded PCR values`, () => {
      const log = parseEventLog(readFileSync(p.eventlog));
      const result = replay(log, p.banks);
      if (!result.ok) throw result.error;
      // The EBS log needs its named workaround (notes in the pcrs.json); every other log replays strictly.
      expect(result.workaround).toBe(p.file.includes('ebs_event_missing') ? 'ebs-missing-exit-boot-services' : null);
      let compared = 0;
      for (const [bank, r] of Object.entries(result.banks)) {
        expect(r.differed).toEqual([]);
        compared += r.matched.length;
        for (const pcr of r.matched) expect(p.banks[bank]![String(pcr)]).toBeDefined();
      }
      expect(compared).toBeGreaterThan(0);
      if (result.workaround === null) {
        // computePcrs gives the same values for every PCR the log extends that the file records.
        const ours = computePcrs(log);
        for (const [bank, values] of Object.entries(ours)) {
          for (const [pcr, v] of Object.entries(values)) if (p.banks[bank]?.[pcr]) expect(v, `${bank}:${pcr}`).toBe(p.banks[bank]![pcr]);
        }
      }
    });

    // gdc-host.pcrs.json carries cos-101's list verbatim (a transcription slip in the derived file);
    // its PCR4 replay above equals the TPM's value, which is what proves those digests.
    if (p.expected_efi_boot_services_application_digests && !p.file.includes('gdc-host')) {
      it(`${p.file}: EV_EFI_BOOT_SERVICES_APPLICATION digests match the recorded ones`, () => {
        const log = parseEventLog(readFileSync(p.eventlog));
        const apps = log.events.filter((e) => e.type === EV.EFI_BOOT_SERVICES_APPLICATION);
        for (const [bank, digests] of Object.entries(p.expected_efi_boot_services_application_digests!)) {
          expect(apps.map((e) => e.digests[bank]!.toString('hex'))).toEqual(digests);
        }
        for (const a of apps) expect(a.decoded.kind).toBe('image');
      });
    }
  }

  it('gdc-host.pcrs.json app digests are a copy of cos-101 (why that file is not compared above)', () => {
    const all = pcrsFixtures();
    const gdc = all.find((x) => x.file.includes('gdc-host'))!;
    const cos = all.find((x) => x.file.includes('cos-101'))!;
    expect(gdc.expected_efi_boot_services_application_digests!.sha256).toEqual(cos.expected_efi_boot_services_application_digests!.sha256);
  });

  it('strict replay of the EBS log fails on PCR5; the workaround is only tried afterwards', () => {
    const p = pcrsFixtures().find((x) => x.file.includes('ebs_event_missing'))!;
    const log = parseEventLog(readFileSync(p.eventlog));
    expect(computePcrs(log).sha1!['5']).toBe('e5781a2fd49c23a33b16bf0ba5f10efa1aa5d43c');
    const r = replay(log, p.banks);
    expect(r.ok && r.log.events.filter((e) => e.synthetic).map((e) => e.decoded.kind === 'text' && e.decoded.text)).toEqual([
      'Exit Boot Services Invocation',
      'Exit Boot Services Returned with Success',
    ]);
  });

  it('a tampered PCR value fails the replay with the differing PCR named', () => {
    const p = pcrsFixtures().find((x) => x.file.includes('rhel8-uefi'))!;
    const log = parseEventLog(readFileSync(p.eventlog));
    const quoted = structuredClone(p.banks);
    quoted.sha256!['4'] = 'ab'.repeat(32);
    const r = replay(log, quoted);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect((r.error as EventLogError).code).toBe('ERR_EVENTLOG_REPLAY');
    expect(r.error.details).toEqual({ differing: { sha256: [4] } });
    expect(r.banks.sha256!.differed[0]!.pcr).toBe(4);
  });

  it('a quote in a bank the log lacks gives ERR_EVENTLOG_NO_COMMON_BANK', () => {
    const p = pcrsFixtures().find((x) => x.file.includes('event-uefi-sha1-log'))!;
    const r = replay(parseEventLog(readFileSync(p.eventlog)), { sha256: { '0': '00'.repeat(32) } });
    expect(!r.ok && r.error.code).toBe('ERR_EVENTLOG_NO_COMMON_BANK');
  });

  describe('Secure Boot state from replayed logs', () => {
    const state = (name: string) => {
      const p = pcrsFixtures().find((x) => x.file.includes(name))!;
      const r = replay(parseEventLog(readFileSync(p.eventlog)), p.banks);
      if (!r.ok) throw r.error;
      return secureBootState(r.log);
    };
    it('rhel8-uefi: enabled, all key databases present', () => {
      expect(state('rhel8-uefi')).toMatchObject({ enabled: true, pk: true, kek: true, db: true, dbx: true });
      expect(state('rhel8-uefi').authorities.length).toBeGreaterThan(0);
    });
    it('ubuntu-2104-no-secure-boot: disabled', () => {
      expect(state('ubuntu-2104-no-secure-boot').enabled).toBe(false);
    });
    it('ubuntu-2104-no-dbx: no dbx', () => {
      expect(state('ubuntu-2104-no-dbx').dbx).toBe(false);
    });
    it('refuses a log whose PCR7 was not verified', () => {
      const p = pcrsFixtures().find((x) => x.file.includes('rhel8-uefi'))!;
      const { sha256 } = p.banks;
      const withoutPcr7 = Object.fromEntries(Object.entries(sha256!).filter(([k]) => k !== '7'));
      const r = replay(parseEventLog(readFileSync(p.eventlog)), { sha256: withoutPcr7 });
      if (!r.ok) throw r.error;
      expect(r.log.events.some((e) => e.pcr === 7)).toBe(false);
      expect(() => secureBootState(r.log)).toThrow(expect.objectContaining({ code: 'ERR_EVENTLOG_UNVERIFIED' }));
    });
  });
});

describe('vendor workaround table', () => {
  for (const w of WORKAROUNDS) {
    it(`${w.id}: its fixture fails strictly and replays with it`, () => {
      const p = pcrsFixtures().find((x) => x.eventlog.endsWith(w.fixture))!;
      expect(p, `pcrs.json for ${w.fixture}`).toBeDefined();
      const log = parseEventLog(readFileSync(p.eventlog));
      const strict = computePcrs(log);
      const differs = Object.entries(p.banks).some(
        ([b, v]) => strict[b] && Object.entries(strict[b]!).some(([i, x]) => v[i] !== undefined && v[i] !== x),
      );
      expect(differs).toBe(true);
      const r = replay(log, p.banks);
      expect(r.ok && r.workaround).toBe(w.id);
    });
  }
});
