import { createParser } from 'eventsource-parser';
import { NodesealError } from '../../../shared/src/errors.js';
import { ERR_SSE_FRAME_TOO_LARGE } from './errors.js';

/**
 * Reading Server-Sent Events the way the WHATWG spec says (through eventsource-parser): lines
 * end in CR, LF or CRLF, even split across chunks; `:` comments; several `data:` lines joined
 * with newlines; an optional space after the colon; a UTF-8 BOM; multi-byte characters split
 * across chunks. Used by the dashboard (browser: fetch, since EventSource cannot send a bearer
 * token) and by `nodeseal k8s-sync`. No Node built-ins here: the dashboard bundles this file.
 */
export interface SseEvent {
  /** `message` when the server named none. */
  event: string;
  data: string;
  /** The id this event carried, if any (the Last-Event-ID to send on reconnect). */
  id: string | undefined;
}

export interface SseReaderOptions {
  /** Characters one unfinished line or event may hold before the stream is refused. Default 4 Mi. */
  maxBufferChars?: number;
  onRetry?: (ms: number) => void;
  onComment?: (text: string) => void;
}

export interface EventReader {
  /** Feeds bytes (or already decoded text) as they arrive, in any chunking. */
  feed(chunk: Uint8Array | string): void;
}

/** A push reader: call feed() with each chunk; onEvent runs once per complete event. */
export function createEventReader(onEvent: (e: SseEvent) => void, opts: SseReaderOptions = {}): EventReader {
  const decoder = new TextDecoder('utf-8');
  let failure: NodesealError | null = null;
  const parser = createParser({
    maxBufferSize: opts.maxBufferChars ?? 4 * 1024 * 1024,
    onEvent: (m) => onEvent({ event: m.event ?? 'message', data: m.data, id: m.id }),
    ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
    ...(opts.onComment ? { onComment: opts.onComment } : {}),
    onError: (e) => {
      if (e.type === 'max-buffer-size-exceeded')
        failure = new NodesealError(ERR_SSE_FRAME_TOO_LARGE, 'event stream line or event larger than the reader accepts');
      // Unknown fields and bad retry values are ignored, as the spec says.
    },
  });
  return {
    feed(chunk) {
      if (failure) throw failure;
      parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
      if (failure) throw failure;
    },
  };
}

/**
 * Reads a response body to its end (or until `signal` aborts), calling onEvent per event.
 * Resolves when the stream ends; rejects with ERR_SSE_FRAME_TOO_LARGE, or the body's error.
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (e: SseEvent) => void,
  opts: SseReaderOptions & { signal?: AbortSignal } = {},
): Promise<void> {
  const reader = body.getReader();
  const events = createEventReader(onEvent, opts);
  const stop = () => void reader.cancel().catch(() => {});
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    if (opts.signal?.aborted) return;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      events.feed(value);
    }
  } catch (e) {
    stop();
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    reader.releaseLock();
  }
}
