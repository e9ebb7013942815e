import { describe, expect, it } from 'vitest';
import { groupHistory, type HistoryReport } from '../../../collector/src/dashboard/client/history.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const report = (seq: number, status = 'trusted', codes: string[] = []): HistoryReport => ({
  seq,
  receivedAt: at(seq),
  kind: 'fresh',
  status,
  reasons: codes.map((code) => ({ code, detail: code })),
});

describe('dashboard history: groupHistory', () => {
  it('folds a run of identical verdicts into one line, newest first', () => {
    const items = groupHistory(
      [1, 2, 3, 4].map((s) => report(s)),
      [],
    );
    expect(items).toEqual([{ type: 'reports', newest: report(4), oldest: report(1), count: 4 }]);
  });

  it('starts a new line when the status or the reason codes change, and at an approval', () => {
    const reports = [
      report(1),
      report(2),
      report(3, 'untrusted', ['gpu.vbios_changed']),
      report(4, 'untrusted', ['gpu.vbios_changed']),
      report(5, 'untrusted', ['tpm.pcr_changed']),
      report(7),
      report(8),
    ];
    const items = groupHistory(reports, [{ at: at(6), actor: 'alice', reason: 'OPS-1' }]);
    expect(
      items.map((i) => (i.type === 'approval' ? `approved:${i.approval.actor}` : `${i.oldest.seq}-${i.newest.seq}:${i.count}`)),
    ).toEqual(['7-8:2', 'approved:alice', '5-5:1', '3-4:2', '1-2:2']);
  });
});
