import { describe, expect, it } from 'vitest';
import { computePcrs, diffEventLogs, parseEventLog, replay, type UnverifiedEventLog } from '../../../shared/src/eventlog/index.js';
import { logFixtures, REJECTED } from './fixtures.js';

/** mulberry32: a small deterministic PRNG, so a failure reproduces from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Offsets of the length and count fields of every record: where lies do the most damage. */
function lengthFields(log: UnverifiedEventLog): number[] {
  const out: number[] = [];
  for (const e of log.events) {
    if (log.format === 'sha1-legacy' || e.index === 0) {
      out.push(e.offset + 28);
      continue;
    }
    out.push(e.offset + 8); // digest count
    let at = e.offset + 12;
    for (const a of log.specId!.algorithms) if (e.digests[a.name]) at += 2 + a.digestSize;
    out.push(at); // eventSize
  }
  if (log.specId) out.push(32 + 24, 32 + 30); // numberOfAlgorithms, first digestSize
  return out;
}

const HOSTILE = [0xffffffff, 0x7fffffff, 0x80000000, 0x00010000, 0, 1, 0xfffffff0];

describe('event-log parser under mutation', () => {
  it('10,000 mutations of the real logs: every outcome is a parse result or a coded error', () => {
    const rand = prng(0x5eed1234);
    const seeds = logFixtures()
      .filter((f) => !REJECTED[f.name])
      .map((f) => ({ name: f.name, bytes: f.bytes, log: parseEventLog(f.bytes) }));
    expect(seeds.length).toBeGreaterThan(20);
    const outcomes = { parsed: 0, rejected: 0 };
    const codes = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const seed = seeds[Math.floor(rand() * seeds.length)]!;
      const b = Buffer.from(seed.bytes);
      const kind = i % 4;
      let input: Buffer = b;
      if (kind === 0) {
        for (let k = 0, n = 1 + Math.floor(rand() * 8); k < n; k++) b[Math.floor(rand() * b.length)]! ^= 1 << Math.floor(rand() * 8);
      } else if (kind === 1) {
        input = b.subarray(0, Math.floor(rand() * b.length));
      } else {
        const fields = lengthFields(seed.log);
        const at = fields[Math.floor(rand() * fields.length)]!;
        const v = kind === 2 ? HOSTILE[Math.floor(rand() * HOSTILE.length)]! : Math.floor(rand() * 0x100000000);
        if (at + 4 <= b.length) b.writeUInt32LE(v >>> 0, at);
      }
      const context = `mutation ${i} (kind ${kind}) of ${seed.name}`;
      try {
        const log = parseEventLog(input);
        outcomes.parsed++;
        // A parsed mutant must also replay and diff without throwing anything uncoded.
        const pcrs = computePcrs(log);
        const r = replay(log, pcrs);
        if (!r.ok) expect(r.error.code, context).toMatch(/^ERR_EVENTLOG_/);
        diffEventLogs(seed.log, log, [0, 1, 2, 3, 4, 5, 6, 7]);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (typeof code !== 'string' || !code.startsWith('ERR_EVENTLOG_'))
          throw new Error(`${context}: uncoded failure ${(e as Error).stack}`);
        outcomes.rejected++;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    expect(outcomes.parsed + outcomes.rejected).toBe(10_000);
    // The mutations reached both sides and several distinct checks.
    expect(outcomes.parsed).toBeGreaterThan(500);
    expect(outcomes.rejected).toBeGreaterThan(500);
    expect(codes.has('ERR_EVENTLOG_TRUNCATED')).toBe(true);
    expect(codes.size).toBeGreaterThanOrEqual(3);
  });

  it('hostile shapes: huge counts and sizes are rejected without allocating them', () => {
    const spec = Buffer.concat([
      Buffer.from('Spec ID Event03\0', 'latin1'),
      Buffer.from([0, 0, 0, 0, 0, 2, 0, 2]),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
    ]);
    const head = Buffer.alloc(32);
    head.writeUInt32LE(3, 4);
    head.writeUInt32LE(spec.length, 28);
    expect(() => parseEventLog(Buffer.concat([head, spec]))).toThrow(expect.objectContaining({ code: 'ERR_EVENTLOG_SPECID' }));
    const huge = Buffer.alloc(32);
    huge.writeUInt32LE(0xffffffff, 28);
    expect(() => parseEventLog(huge)).toThrow(expect.objectContaining({ code: 'ERR_EVENTLOG_TRUNCATED' }));
    expect(() => parseEventLog(Buffer.alloc(0))).toThrow(expect.objectContaining({ code: 'ERR_EVENTLOG_TRUNCATED' }));
    expect(() => parseEventLog(Buffer.alloc(17 * 1024 * 1024))).toThrow(expect.objectContaining({ code: 'ERR_EVENTLOG_TOO_LARGE' }));
  });
});

describe('event-log parser on fill', () => {
  it('a log that is mostly zero fill with a stray last byte is bounded by the event limit', () => {
    const b = Buffer.alloc(4 * 1024 * 1024);
    b[b.length - 1] = 1;
    expect(() => parseEventLog(b)).toThrow(expect.objectContaining({ code: 'ERR_EVENTLOG_TOO_LARGE' }));
  });
  it('trailing 0xff fill after the last record is accepted', () => {
    const f = logFixtures().find((x) => x.name.endsWith('glinux-alex.bin'))!;
    const log = parseEventLog(Buffer.concat([f.bytes, Buffer.alloc(100, 0xff)]));
    expect(log.events.length).toBe(parseEventLog(f.bytes).events.length);
  });
});
