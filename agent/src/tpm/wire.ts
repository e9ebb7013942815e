import { TpmError, ERR_TPM_MARSHAL } from './errors.js';

/**
 * TPM wire bytes (big-endian, TPM 2.0 Part 2) built and read in TypeScript. The bindings turn
 * these into tpm2-tss C structures with Tss2_MU_*_Unmarshal, so no C layout lives here.
 */

export class WireWriter {
  private readonly parts: Buffer[] = [];

  u8(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v & 0xffff);
    this.parts.push(b);
    return this;
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    this.parts.push(b);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.parts.push(Buffer.from(b));
    return this;
  }

  /** A TPM2B: 16-bit size followed by the bytes. */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new TpmError(ERR_TPM_MARSHAL, `TPM2B of ${b.length} bytes is too large`);
    return this.u16(b.length).bytes(b);
  }

  done(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export class WireReader {
  private off = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.off;
  }

  get remaining(): number {
    return this.buf.length - this.off;
  }

  private need(n: number): void {
    if (this.off + n > this.buf.length) {
      throw new TpmError(ERR_TPM_MARSHAL, `${this.what}: truncated at byte ${this.off} (need ${n} more)`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.off++);
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return Buffer.from(v);
  }

  tpm2b(): Buffer {
    return this.bytes(this.u16());
  }
}

/** TPM_ALG_ID values used by the agent. */
export const ALG = {
  rsa: 0x0001,
  sha1: 0x0004,
  aes: 0x0006,
  keyedhash: 0x0008,
  sha256: 0x000b,
  sha384: 0x000c,
  sha512: 0x000d,
  null: 0x0010,
  sm3_256: 0x0012,
  rsassa: 0x0014,
  rsapss: 0x0016,
  ecdsa: 0x0018,
  ecc: 0x0023,
  cfb: 0x0043,
} as const;

const BANK_NAMES: Record<number, string> = {
  [ALG.sha1]: 'sha1',
  [ALG.sha256]: 'sha256',
  [ALG.sha384]: 'sha384',
  [ALG.sha512]: 'sha512',
  [ALG.sm3_256]: 'sm3_256',
};

export function bankName(alg: number): string {
  return BANK_NAMES[alg] ?? `alg_0x${alg.toString(16).padStart(4, '0')}`;
}

export function bankAlg(name: string): number | undefined {
  for (const [alg, n] of Object.entries(BANK_NAMES)) if (n === name) return Number(alg);
  return undefined;
}

/** One bank's selection: hash algorithm and the PCR indices selected in it. */
export interface PcrSelection {
  alg: number;
  pcrs: number[];
}

/** TPML_PCR_SELECTION wire bytes; sizeofSelect covers the highest index (at least 3 octets). */
export function pcrSelectionBytes(sel: PcrSelection[]): Buffer {
  const w = new WireWriter().u32(sel.length);
  for (const s of sel) {
    const max = s.pcrs.reduce((m, p) => Math.max(m, p), 23);
    const bitmap = Buffer.alloc(Math.floor(max / 8) + 1);
    for (const p of s.pcrs) bitmap[p >> 3]! |= 1 << (p & 7);
    w.u16(s.alg).u8(bitmap.length).bytes(bitmap);
  }
  return w.done();
}

export function readPcrSelection(r: WireReader): PcrSelection[] {
  const count = r.u32();
  if (count > 16) throw new TpmError(ERR_TPM_MARSHAL, `TPML_PCR_SELECTION count ${count} is implausible`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const alg = r.u16();
    const size = r.u8();
    const bitmap = r.bytes(size);
    const pcrs: number[] = [];
    for (let p = 0; p < size * 8; p++) if (bitmap[p >> 3]! & (1 << (p & 7))) pcrs.push(p);
    out.push({ alg, pcrs });
  }
  return out;
}

/** TPML_DIGEST → list of digests. */
export function readDigestList(r: WireReader): Buffer[] {
  const count = r.u32();
  if (count > 8) throw new TpmError(ERR_TPM_MARSHAL, `TPML_DIGEST count ${count} exceeds 8`);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(r.tpm2b());
  return out;
}

export function tpm2b(b: Uint8Array): Buffer {
  return new WireWriter().tpm2b(b).done();
}

/** Strips the 16-bit size of a TPM2B, checking it matches the content. */
export function unwrapTpm2b(b: Buffer, what: string): Buffer {
  const r = new WireReader(b, what);
  const inner = r.tpm2b();
  if (r.remaining !== 0) throw new TpmError(ERR_TPM_MARSHAL, `${what}: ${r.remaining} trailing bytes`);
  return inner;
}
