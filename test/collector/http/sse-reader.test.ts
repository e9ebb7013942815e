import { describe, expect, it } from 'vitest';
import { createEventReader, readEventStream, type SseEvent } from '../../../collector/src/http/sse-reader.js';

/**
 * The spec reader (eventsource-parser) behind the dashboard and k8s-sync: the same bytes give
 * the same events whatever the chunking, including cuts inside a CRLF pair, a comment, a field
 * name and a multi-byte character.
 */
const enc = new TextEncoder();

const STREAM =
  '\uFEFFretry: 2000\r\n: connected\r\n\r\n' +
  'event: trust\r\nid: 7\r\ndata: {"nodeId":"gpu001","status":"untrusted","note":"GPU 1 \u00e9\u2713"}\r\n\r\n' +
  ': ping\n\n' +
  'event: snapshot\rdata: {"a":1}\r\r' +
  'data:first\ndata: second\n\n' +
  'id: 9\nevent: reset\ndata: {}\n\n' +
  'unknownfield: x\nevent: trust\ndata: {"z":true}\n\n' +
  'event: partial\ndata: never finished';

const EXPECTED: SseEvent[] = [
  { event: 'trust', id: '7', data: '{"nodeId":"gpu001","status":"untrusted","note":"GPU 1 \u00e9\u2713"}' },
  { event: 'snapshot', id: undefined, data: '{"a":1}' },
  { event: 'message', id: undefined, data: 'first\nsecond' },
  { event: 'reset', id: '9', data: '{}' },
  { event: 'trust', id: undefined, data: '{"z":true}' },
];

function readChunks(chunks: Uint8Array[]) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const r = createEventReader((e) => events.push(e), { onComment: (c) => comments.push(c.trim()), onRetry: (ms) => retries.push(ms) });
  for (const c of chunks) r.feed(c);
  return { events, comments, retries };
}

describe('SSE reader', () => {
  const bytes = enc.encode(STREAM);

  it('reads the whole stream in one chunk: events, comments, retry; an unfinished event is not emitted', () => {
    const out = readChunks([bytes]);
    expect(out.events).toEqual(EXPECTED);
    expect(out.comments).toEqual(['connected', 'ping']);
    expect(out.retries).toEqual([2000]);
  });

  it('gives the same events for a cut at every byte (inside CRLF, comments, field names, UTF-8 sequences)', () => {
    const crlf = STREAM.indexOf('\r\n');
    expect(crlf).toBeGreaterThan(0);
    for (let cut = 1; cut < bytes.length; cut++) {
      const out = readChunks([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(out.events, `cut at byte ${cut}`).toEqual(EXPECTED);
      expect(out.comments, `cut at byte ${cut}`).toEqual(['connected', 'ping']);
    }
  });

  it('gives the same events byte by byte', () => {
    expect(readChunks(Array.from(bytes, (b) => Uint8Array.of(b))).events).toEqual(EXPECTED);
  });

  it('refuses a line longer than its buffer with ERR_SSE_FRAME_TOO_LARGE', () => {
    const r = createEventReader(() => {}, { maxBufferChars: 1024 });
    expect(() => r.feed(`data: ${'x'.repeat(4096)}`)).toThrow(expect.objectContaining({ code: 'ERR_SSE_FRAME_TOO_LARGE' }));
  });

  it('reads a byte stream to its end (readEventStream) and stops when aborted', async () => {
    const parts = [bytes.subarray(0, 50), bytes.subarray(50, 51), bytes.subarray(51)];
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const p of parts) c.enqueue(p);
        c.close();
      },
    });
    const events: SseEvent[] = [];
    await readEventStream(body, (e) => events.push(e));
    expect(events).toEqual(EXPECTED);

    const ac = new AbortController();
    const endless = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode('event: one\ndata: 1\n\n'));
      },
    });
    const seen: string[] = [];
    const done = readEventStream(
      endless,
      (e) => {
        seen.push(e.event);
        ac.abort();
      },
      { signal: ac.signal },
    );
    await expect(done).resolves.toBeUndefined();
    expect(seen).toEqual(['one']);
  });
});
