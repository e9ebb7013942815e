/**
 * The node page's history: reports and approvals newest first, with a run of consecutive reports
 * that say the same thing (status, kind, reason codes) folded into one line, so a healthy node
 * shows "reports 39–88 (fresh) trusted ×50" instead of fifty identical lines. An approval ends a run.
 */
export interface HistoryReport {
  seq: number;
  receivedAt: string;
  kind: string;
  status: string;
  reasons: Array<{ code: string; detail: string }>;
}
export interface HistoryApproval {
  at: string;
  actor: string;
  reason: string;
}

export type HistoryItem =
  | { type: 'reports'; newest: HistoryReport; oldest: HistoryReport; count: number }
  | { type: 'approval'; approval: HistoryApproval };

const sameVerdict = (a: HistoryReport, b: HistoryReport): boolean =>
  a.status === b.status && a.kind === b.kind && a.reasons.map((r) => r.code).join(',') === b.reasons.map((r) => r.code).join(',');

export function groupHistory(reports: HistoryReport[], approvals: HistoryApproval[]): HistoryItem[] {
  const merged = [...reports.map((r) => ({ at: r.receivedAt, report: r })), ...approvals.map((a) => ({ at: a.at, approval: a }))].sort(
    (x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0),
  );
  const out: HistoryItem[] = [];
  for (const e of merged) {
    if ('approval' in e) {
      out.push({ type: 'approval', approval: e.approval });
      continue;
    }
    const last = out[out.length - 1];
    if (last?.type === 'reports' && sameVerdict(last.oldest, e.report)) {
      last.oldest = e.report;
      last.count++;
    } else out.push({ type: 'reports', newest: e.report, oldest: e.report, count: 1 });
  }
  return out;
}
