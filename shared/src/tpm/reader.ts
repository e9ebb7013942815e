/**
 * A bounded cursor over untrusted bytes. Every read checks its length against what is left
 * and reports failure through the caller's error factory (so the TPM and event-log areas
 * keep their own codes). Reads return views (subarray), never copies: memory stays bounded
 * by the input.
 */
export type ReadFailure = (field: string, offset: number, message: string) => Error;

export class Reader {
  private pos: number;

  constructor(
    readonly buf: Uint8Array,
    private readonly fail: ReadFailure,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0) throw this.fail(field, this.pos, `invalid length ${n}`);
    if (n > this.end - this.pos) throw this.fail(field, this.pos, `needs ${n} bytes, ${this.end - this.pos} left`);
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const out = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  u16be(field: string): number {
    this.need(2, field);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32be(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const v = ((b[this.pos]! << 24) >>> 0) + (b[this.pos + 1]! << 16) + (b[this.pos + 2]! << 8) + b[this.pos + 3]!;
    this.pos += 4;
    return v;
  }

  u64be(field: string): bigint {
    const hi = this.u32be(field);
    const lo = this.u32be(field);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  u16le(field: string): number {
    this.need(2, field);
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }

  u32le(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const v = b[this.pos]! + (b[this.pos + 1]! << 8) + (b[this.pos + 2]! << 16) + ((b[this.pos + 3]! << 24) >>> 0);
    this.pos += 4;
    return v;
  }

  /** A little-endian u64 as a number; values above 2^53 are rejected (no buffer is that large). */
  u64leNumber(field: string): number {
    const lo = this.u32le(field);
    const hi = this.u32le(field);
    if (hi >= 0x200000) throw this.fail(field, this.pos - 8, 'length above 2^53');
    return hi * 0x100000000 + lo;
  }

  /** TPM2B_*: a big-endian u16 size followed by that many bytes, size at most `max`. */
  tpm2b(field: string, max: number): Buffer {
    const at = this.pos;
    const n = this.u16be(`${field}.size`);
    if (n > max) throw this.fail(field, at, `size ${n} above the maximum ${max}`);
    return this.bytes(n, field);
  }

  /** Fails unless every byte was consumed. */
  done(field: string): void {
    if (this.pos !== this.end) throw this.fail(field, this.pos, `${this.end - this.pos} trailing bytes`);
  }
}
