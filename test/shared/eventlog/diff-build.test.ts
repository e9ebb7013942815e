import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diffEventLogs, EV, parseEventLog, replay, secureBootState, simulatedBootLog } from '../../../shared/src/eventlog/index.js';
import { softwareQuote, verifyQuote } from '../../../shared/src/tpm/index.js';

const real = (name: string) => parseEventLog(readFileSync(`test/fixtures/eventlogs/go-tpm-tools/${name}`));

describe('diffEventLogs', () => {
  it('identical logs: no changes', () => {
    const a = real('rhel8-uefi.bin');
    expect(diffEventLogs(a, a, [0, 1, 2, 3, 4, 5, 6, 7]).pcrs).toEqual([]);
  });

  it('two real GCE Ubuntu 21.04 boots: PCR7 differences are explained by variable names', () => {
    const noDbx = real('ubuntu-2104-no-dbx.bin');
    const noSb = real('ubuntu-2104-no-secure-boot.bin');
    const d = diffEventLogs(noDbx, noSb, [7]);
    expect(d.bank).toBe('sha256');
    const pcr7 = d.pcrs.find((p) => p.pcr === 7)!;
    expect(pcr7.changes.length).toBeGreaterThan(0);
    // The baseline lacks dbx, the other log measures it: reported as a change on the dbx variable.
    const dbx = pcr7.changes.filter((c) => c.description.startsWith('dbx '));
    expect(dbx.length).toBe(1);
    expect(dbx[0]!.eventType).toBe('EV_EFI_VARIABLE_DRIVER_CONFIG');
    for (const c of pcr7.changes) {
      if (c.kind !== 'added') expect(noDbx.events[c.oldIndex!]!.digests.sha256!.toString('hex')).toBe(c.oldDigest);
      if (c.kind !== 'removed') expect(noSb.events[c.newIndex!]!.digests.sha256!.toString('hex')).toBe(c.newDigest);
    }
  });

  it('a new bootloader shows as one changed PCR4 application with its path', () => {
    const a = parseEventLog(simulatedBootLog(60).bytes);
    const b = parseEventLog(simulatedBootLog(60, { variant: 'grub 2.12' }).bytes);
    const d = diffEventLogs(a, b, [0, 4, 7, 8]);
    expect(d.pcrs.map((p) => p.pcr)).toEqual([4]);
    expect(d.pcrs[0]!.changes).toHaveLength(1);
    expect(d.pcrs[0]!.changes[0]).toMatchObject({
      kind: 'changed',
      eventType: 'EV_EFI_BOOT_SERVICES_APPLICATION',
      description: '\\EFI\\ubuntu\\grubx64.efi',
    });
  });

  it('Secure Boot turned off shows as the SecureBoot variable changing in PCR7', () => {
    const a = parseEventLog(simulatedBootLog(40).bytes);
    const b = parseEventLog(simulatedBootLog(40, { secureBoot: false }).bytes);
    const c = diffEventLogs(a, b, [7]).pcrs[0]!.changes;
    expect(c).toHaveLength(1);
    expect(c[0]!.description).toMatch(/^SecureBoot \{8be4df61-93ca-11d2-aa0d-00e098032b8c\}/);
  });

  it('extra events appear as added, missing ones as removed', () => {
    const a = parseEventLog(simulatedBootLog(40).bytes);
    const b = parseEventLog(simulatedBootLog(45).bytes);
    const c = diffEventLogs(a, b, [8]).pcrs[0]!.changes;
    expect(c.map((x) => x.kind)).toEqual(['added', 'added', 'added', 'added', 'added']);
    expect(diffEventLogs(b, a, [8]).pcrs[0]!.changes.every((x) => x.kind === 'removed')).toBe(true);
  });
});

describe('simulated boot logs (build.ts) through the whole verification path', () => {
  it('quote over the built PCRs verifies, the log replays, Secure Boot state is readable', () => {
    const built = simulatedBootLog(100);
    const log = parseEventLog(built.bytes);
    expect(log.events.filter((e) => e.type !== EV.NO_ACTION)).toHaveLength(100);
    expect(log.startupLocality).toBe(0);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const nonce = randomBytes(32);
    const q = softwareQuote({ privateKey, nonce, pcrs: built.pcrs, selection: [{ bank: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }] });
    verifyQuote({ ...q, nonce, pcrs: built.pcrs });
    const r = replay(log, built.pcrs);
    if (!r.ok) throw r.error;
    expect(r.banks.sha256!.matched).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(secureBootState(r.log)).toMatchObject({ enabled: true, pk: true, kek: true, db: true, dbx: true });
  });
});

describe('Secure Boot data is bound to its digest', () => {
  it('a SecureBoot variable whose data was edited after measurement is refused even though the replay matches', () => {
    const built = simulatedBootLog(30);
    const bytes = Buffer.from(built.bytes);
    const sb = parseEventLog(bytes).events.find((e) => e.decoded.kind === 'variable' && e.decoded.variable.name === 'SecureBoot')!;
    // Views share memory with `bytes`: this edits the log in place, digests untouched.
    sb.data[sb.data.length - 1] = 0;
    const r = replay(parseEventLog(bytes), built.pcrs);
    if (!r.ok) throw r.error;
    expect(() => secureBootState(r.log)).toThrow(expect.objectContaining({ code: 'ERR_EVENTLOG_EVENT_DATA' }));
  });
});
