import { z } from 'zod';
import { UserError, ERR_CONFIG } from '../../../shared/src/errors.js';

/** Which collector events a webhook receives. */
export type AlertKind = 'status-changed' | 'drift';
export const ALERT_KINDS: readonly AlertKind[] = ['status-changed', 'drift'];

export interface WebhookConfig {
  /** Stable key stored with each outbox row; renaming a webhook orphans its pending rows. */
  name: string;
  url: string;
  /** HMAC-SHA256 key for `X-Nodeseal-Signature`; null sends unsigned (e.g. Slack incoming webhooks). */
  secret: string | null;
  /** `json`: nodeseal's own body; `slack`: `{text}` accepted by Slack-compatible incoming webhooks. */
  format: 'json' | 'slack';
  events: AlertKind[];
  /** Attempts before a row is dead-lettered. */
  maxAttempts: number;
  /** Per-attempt HTTP timeout. */
  timeoutMs: number;
  /** Cap on this webhook's pending alerts; past it the oldest move to dead-letter (ERR_ALERT_OUTBOX_FULL). */
  maxPending: number;
}

export interface AlertsConfig {
  webhooks: WebhookConfig[];
  /** Retry delay: min(maxMs, baseMs * 2^(attempt-1)), times a jitter factor in [0.5, 1). */
  backoff: { baseMs: number; maxMs: number };
}

export const DEFAULT_ALERTS: AlertsConfig = { webhooks: [], backoff: { baseMs: 1000, maxMs: 300_000 } };

const webhookSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    url: z.url({ protocol: /^https?$/ }),
    secret: z.string().min(16).nullable().optional(),
    format: z.enum(['json', 'slack']).default('json'),
    events: z
      .array(z.enum(['status-changed', 'drift']))
      .min(1)
      .default(['status-changed', 'drift']),
    maxAttempts: z.number().int().min(1).max(100).default(10),
    timeoutMs: z.number().int().min(100).max(120_000).default(5000),
    maxPending: z.number().int().min(1).max(10_000_000).default(100_000),
  })
  .strict();

const alertsSchema = z
  .object({
    webhooks: z.array(webhookSchema).max(32).default([]),
    backoff: z
      .object({
        baseMs: z.number().int().min(1).max(3_600_000).default(1000),
        maxMs: z.number().int().min(1).max(86_400_000).default(300_000),
      })
      .strict()
      .default({ baseMs: 1000, maxMs: 300_000 }),
  })
  .strict();

/**
 * Parses the `alerts` section of the collector config. Every problem is listed in one
 * ERR_CONFIG error (secrets are never echoed back).
 */
export function parseAlertsConfig(raw: unknown): AlertsConfig {
  const r = alertsSchema.safeParse(raw ?? {});
  const problems: string[] = r.success ? [] : r.error.issues.map((i) => `alerts.${i.path.join('.')}: ${i.message}`);
  if (r.success) {
    const names = new Set<string>();
    r.data.webhooks.forEach((w, i) => {
      if (names.has(w.name)) problems.push(`alerts.webhooks.${i}.name: duplicate name '${w.name}'`);
      names.add(w.name);
      if (w.format === 'json' && !w.secret) problems.push(`alerts.webhooks.${i}.secret: required for format json (HMAC signature)`);
    });
    if (r.data.backoff.maxMs < r.data.backoff.baseMs) problems.push('alerts.backoff.maxMs: must be >= baseMs');
  }
  if (problems.length || !r.success)
    throw new UserError(ERR_CONFIG, `invalid alerts config: ${problems.join('; ')}`, { details: { problems } });
  return {
    webhooks: r.data.webhooks.map((w) => ({ ...w, secret: w.secret ?? null })),
    backoff: r.data.backoff,
  };
}
