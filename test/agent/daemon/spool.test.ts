import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from '../../../agent/src/daemon/spool.js';

function capture() {
  const lines: any[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

describe('agent spool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-spool-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('keeps reports on disk (0600) in seq order and survives a restart', async () => {
    const { logger } = capture();
    const s = await Spool.open(dir, {}, logger);
    await s.append(3, 'c');
    await s.append(1, 'a');
    await s.append(2, 'b');
    expect(s.seqs()).toEqual([1, 2, 3]);
    expect((await stat(join(dir, '0000000000000001.jws'))).mode & 0o777).toBe(0o600);
    const again = await Spool.open(dir, {}, logger);
    expect(again.seqs()).toEqual([1, 2, 3]);
    expect(await again.peek()).toEqual({ seq: 1, jws: 'a' });
    expect(await again.remove(1)).toBe(true);
    expect(await again.remove(1)).toBe(false);
    expect((await again.peek())?.seq).toBe(2);
    expect(again.maxSeq).toBe(3);
  });

  it('drops the oldest with a warning when over its count or byte bound', async () => {
    const { logger, lines } = capture();
    const s = await Spool.open(dir, { maxCount: 3, maxBytes: 1000 }, logger);
    for (let i = 1; i <= 5; i++) await s.append(i, `r${i}`);
    expect(s.seqs()).toEqual([3, 4, 5]);
    expect(lines.filter((l) => l.code === 'ERR_AGENT_SPOOL_DROPPED').map((l) => l.seq)).toEqual([1, 2]);
    const big = await Spool.open(join(dir, 'bytes'), { maxCount: 100, maxBytes: 1000 }, logger);
    for (let i = 1; i <= 3; i++) await big.append(i, 'y'.repeat(300));
    await big.append(4, 'x'.repeat(300));
    expect(big.seqs()).toEqual([2, 3, 4]);
    expect(big.bytes).toBe(900);
    expect((await readdir(join(dir, 'bytes'))).sort()).toEqual(['0000000000000002.jws', '0000000000000003.jws', '0000000000000004.jws']);
  });

  it('ignores foreign files and removes interrupted temporaries', async () => {
    await writeFile(join(dir, '.0000000000000009.jws.abc.tmp'), 'half');
    await writeFile(join(dir, 'README'), 'not a report');
    await writeFile(join(dir, '0000000000000004.jws'), 'd');
    const s = await Spool.open(dir, {}, capture().logger);
    expect(s.seqs()).toEqual([4]);
    expect((await readdir(dir)).sort()).toEqual(['0000000000000004.jws', 'README']);
  });
});
