import type { Reason, TrustStatus } from '../../../shared/src/report/types.js';
import type { AlertKind, WebhookConfig } from './config.js';

/**
 * Alert bodies, built once when the alert is queued (retries resend the same bytes).
 * Pure: the event id and collector name are passed in.
 */
export type AlertEvent =
  | { kind: 'status-changed'; nodeId: string; from: TrustStatus | null; to: TrustStatus; reasons: Reason[]; at: string }
  | { kind: 'drift'; nodeId: string; seq: number; reasons: Reason[]; at: string };

export interface JsonAlertBody {
  v: 1;
  id: string;
  type: AlertKind;
  nodeId: string;
  at: string;
  from?: TrustStatus | null;
  to?: TrustStatus;
  seq?: number;
  reasons: Reason[];
}

/** Keeps alert bodies bounded whatever the reasons carry (before/after can be large). */
const MAX_REASONS = 50;
const MAX_VALUE_CHARS = 2000;

function clip(v: unknown): unknown {
  if (v === undefined) return undefined;
  const s = JSON.stringify(v);
  return s !== undefined && s.length > MAX_VALUE_CHARS ? `${s.slice(0, MAX_VALUE_CHARS)}…` : v;
}

function boundedReasons(reasons: Reason[]): Reason[] {
  return reasons.slice(0, MAX_REASONS).map((r) => {
    const out: Reason = { code: r.code, claim: r.claim, detail: r.detail.slice(0, MAX_VALUE_CHARS) };
    if (r.before !== undefined) out.before = clip(r.before);
    if (r.after !== undefined) out.after = clip(r.after);
    return out;
  });
}

export function jsonBody(e: AlertEvent, id: string): JsonAlertBody {
  const base = { v: 1 as const, id, type: e.kind, nodeId: e.nodeId, at: e.at, reasons: boundedReasons(e.reasons) };
  return e.kind === 'status-changed' ? { ...base, from: e.from, to: e.to } : { ...base, seq: e.seq };
}

const icon: Record<TrustStatus, string> = {
  trusted: ':large_green_circle:',
  untrusted: ':red_circle:',
  unknown: ':white_circle:',
  stale: ':large_yellow_circle:',
};

/** Slack mrkdwn needs &, < and > escaped. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackBody(e: AlertEvent): { text: string } {
  const node = `\`${slackEscape(e.nodeId)}\``;
  const head =
    e.kind === 'status-changed'
      ? `${icon[e.to]} nodeseal: node ${node} is now *${e.to}*${e.from ? ` (was ${e.from})` : ''}`
      : `:warning: nodeseal: drift on node ${node} (report ${e.seq})`;
  const lines = e.reasons.slice(0, 10).map((r) => `• \`${slackEscape(r.code)}\` ${slackEscape(r.detail.slice(0, 300))}`);
  if (e.reasons.length > 10) lines.push(`• … and ${e.reasons.length - 10} more`);
  return { text: [head, ...lines].join('\n') };
}

/** The exact bytes stored in the outbox and sent to this webhook. */
export function renderAlert(e: AlertEvent, hook: Pick<WebhookConfig, 'format'>, id: string): string {
  return JSON.stringify(hook.format === 'slack' ? slackBody(e) : jsonBody(e, id));
}
