/// <reference lib="dom" />
/**
 * Talking to the collector: the bearer token lives in sessionStorage only (gone when the tab
 * closes), every call sends it, and live events come over fetch (not EventSource, which cannot
 * send an Authorization header) with Last-Event-ID on reconnect.
 */
import { readEventStream } from '../../http/sse-reader.js';

const KEY = 'nodeseal.token';

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (t: string): void => sessionStorage.setItem(KEY, t),
  clear: (): void => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const t = token.get();
  if (t) headers.authorization = `Bearer ${t}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? null : JSON.stringify(init.body),
    cache: 'no-store',
  });
  const json = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? `HTTP_${res.status}`, json?.error?.message ?? res.statusText);
  return json as T;
}

export interface LiveHandlers {
  event(name: string, data: unknown): void;
  state(up: boolean): void;
  unauthorized(): void;
}

/** Opens the live stream and keeps it open (reconnecting after 2 s) until close(). */
export function openLive(h: LiveHandlers): { close(): void } {
  let lastId: string | null = null;
  let stopped = false;
  let ctrl: AbortController | null = null;
  const run = async (): Promise<void> => {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        const t = token.get();
        if (t) headers.authorization = `Bearer ${t}`;
        if (lastId) headers['last-event-id'] = lastId;
        const res = await fetch('/v1/events', { headers, signal: ctrl.signal, cache: 'no-store' });
        if (res.status === 401 || res.status === 403) {
          h.unauthorized();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        h.state(true);
        await readEventStream(res.body, (e) => {
          if (e.id !== undefined) lastId = e.id;
          if (!e.data) return;
          try {
            h.event(e.event, JSON.parse(e.data));
          } catch {
            /* a malformed event is skipped */
          }
        });
      } catch {
        /* reconnect below */
      }
      h.state(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
  return {
    close() {
      stopped = true;
      ctrl?.abort();
    },
  };
}
