import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { syncDir, writeFileAtomic } from './atomic.js';
import { ERR_AGENT_SPOOL_DROPPED } from './errors.js';

export interface SpoolLimits {
  /** Most reports kept (default 1,000). */
  maxCount: number;
  /** Most bytes kept (default 64 MiB). */
  maxBytes: number;
}

export const DEFAULT_SPOOL_LIMITS: SpoolLimits = { maxCount: 1000, maxBytes: 64 * 1024 * 1024 };

interface Entry {
  seq: number;
  bytes: number;
}

const NAME = /^(\d{16})\.jws$/;

/**
 * On-disk spool of signed reports not yet acknowledged by the collector, one file per report
 * (`<seq, 16 digits>.jws`, written atomically). Bounded by count and bytes: the oldest are
 * dropped with a warning. Read back in seq order.
 */
export class Spool {
  private entries: Entry[] = [];
  private totalBytes = 0;

  private constructor(
    readonly dir: string,
    private readonly limits: SpoolLimits,
    private readonly logger: Logger,
  ) {}

  static async open(dir: string, limits: Partial<SpoolLimits>, logger: Logger): Promise<Spool> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const s = new Spool(dir, { ...DEFAULT_SPOOL_LIMITS, ...limits }, logger);
    for (const name of await readdir(dir)) {
      const m = NAME.exec(name);
      if (!m) {
        // Leftover temporaries of an interrupted write.
        if (name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => undefined);
        continue;
      }
      const st = await stat(join(dir, name));
      s.entries.push({ seq: Number(m[1]), bytes: st.size });
      s.totalBytes += st.size;
    }
    s.entries.sort((a, b) => a.seq - b.seq);
    await s.enforce();
    return s;
  }

  get size(): number {
    return this.entries.length;
  }
  get bytes(): number {
    return this.totalBytes;
  }
  get maxSeq(): number {
    return this.entries.length ? this.entries[this.entries.length - 1]!.seq : 0;
  }
  seqs(): number[] {
    return this.entries.map((e) => e.seq);
  }

  private file(seq: number): string {
    return join(this.dir, `${String(seq).padStart(16, '0')}.jws`);
  }

  async append(seq: number, jws: string): Promise<void> {
    await writeFileAtomic(this.file(seq), jws, 0o600);
    const bytes = Buffer.byteLength(jws);
    this.entries.push({ seq, bytes });
    this.entries.sort((a, b) => a.seq - b.seq);
    this.totalBytes += bytes;
    await this.enforce();
  }

  /** The oldest spooled report, or null. */
  async peek(): Promise<{ seq: number; jws: string } | null> {
    const e = this.entries[0];
    if (!e) return null;
    return { seq: e.seq, jws: await readFile(this.file(e.seq), 'utf8') };
  }

  async remove(seq: number): Promise<boolean> {
    const i = this.entries.findIndex((e) => e.seq === seq);
    if (i < 0) return false;
    const [e] = this.entries.splice(i, 1);
    this.totalBytes -= e!.bytes;
    await unlink(this.file(seq)).catch(() => undefined);
    await syncDir(this.dir);
    return true;
  }

  private async enforce(): Promise<void> {
    while (this.entries.length > 1 && (this.entries.length > this.limits.maxCount || this.totalBytes > this.limits.maxBytes)) {
      const oldest = this.entries[0]!;
      this.logger.warn(
        { code: ERR_AGENT_SPOOL_DROPPED, seq: oldest.seq, count: this.entries.length, bytes: this.totalBytes },
        'spool full: dropping the oldest unacknowledged report',
      );
      await this.remove(oldest.seq);
    }
  }
}
