import { readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { SourceStatus } from '../../../shared/src/report/types.js';
import { ERR_AGENT_CONNECT } from '../daemon/errors.js';

/**
 * Whether the collector answers GET /healthz over the same transport the agent will use (wss →
 * https with the configured CA bundle, ws → http). Unreachable is a warning for `agent --check`:
 * the agent runs, spools its reports and keeps retrying.
 */
export async function probeCollector(
  base: string,
  caFile: string | null,
  timeoutMs = 5000,
): Promise<{ url: string; status: SourceStatus }> {
  const u = new URL(base);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/healthz';
  const url = u.href;
  let ca: Buffer | undefined;
  if (caFile) ca = await readFile(caFile).catch(() => undefined);
  const status = await new Promise<SourceStatus>((resolve) => {
    const onResponse = (res: import('node:http').IncomingMessage) => {
      res.resume();
      resolve(
        res.statusCode === 200
          ? { status: 'ok' }
          : { status: 'error', reason: `${url} answered HTTP ${res.statusCode}`, code: ERR_AGENT_CONNECT },
      );
    };
    const req =
      u.protocol === 'https:'
        ? httpsGet(u, { timeout: timeoutMs, ...(ca ? { ca } : {}) }, onResponse)
        : httpGet(u, { timeout: timeoutMs }, onResponse);
    req.on('timeout', () => {
      req.destroy();
      resolve({ status: 'unavailable', reason: `no answer from ${url} within ${timeoutMs} ms`, code: ERR_AGENT_CONNECT });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const tls = typeof e.code === 'string' && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/.test(e.code);
      resolve({
        status: tls ? 'error' : 'unavailable',
        reason: `cannot reach ${url}: ${e.code ?? e.message}${tls ? ' (check the CA bundle: --ca / caFile)' : ''}`,
        code: ERR_AGENT_CONNECT,
      });
    });
  });
  return { url, status };
}
