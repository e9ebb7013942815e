import { setTimeout as sleep } from 'node:timers/promises';
import {
  TpmError,
  ERR_TPM_CLOSED,
  ERR_TPM_COMMAND,
  ERR_TPM_MARSHAL,
  ERR_TPM_UNAVAILABLE,
  isRetryable,
  isUnreachable,
  rcHex,
} from './errors.js';
import { loadTss2, type EsysName, type MuType, type Tss2 } from './ffi.js';

/** ESYS_TR constants (tss2_esys.h). */
export const ESYS_TR = {
  NONE: 0xfff,
  PASSWORD: 0x0ff,
  RH_OWNER: 0x101,
  RH_NULL: 0x107,
  RH_ENDORSEMENT: 0x10b,
  RH_PLATFORM: 0x10c,
} as const;

/** Bytes large enough for any tpm2-tss structure the agent converts (largest is ~1.1 KiB). */
const OPAQUE_SIZE = 8192;
/** Largest marshalled output (TPMS_CAPABILITY_DATA, TPM2B_PUBLIC with RSA-4096 ...). */
const MARSHAL_SIZE = 8192;
const RETRIES = 8;
/** Longest wait for one TPM command; RSA key generation on a slow TPM takes tens of seconds. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;

/** Resolves like `p`, or rejects with onTimeout() after `ms` (the native call keeps running). */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One ESAPI context over one TCTI connection. Inputs are TPM wire bytes turned into C
 * structures by Tss2_MU_<T>_Unmarshal into opaque buffers; outputs are marshalled back to
 * wire bytes and released with Esys_Free. Callers serialise use (see tpm.ts).
 */
export class EsysContext {
  private ctx: bigint | null;
  private tcti: bigint | null;
  /** A native call still running after its timeout: the context is unusable and freed only after it returns. */
  private stuck: { call: Promise<unknown>; error: TpmError } | null = null;

  private constructor(
    private readonly lib: Tss2,
    ctx: bigint,
    tcti: bigint,
    private readonly timeoutMs: number,
  ) {
    this.ctx = ctx;
    this.tcti = tcti;
  }

  /**
   * Opens the TCTI and an ESAPI context. Any failure here is ERR_TPM_UNAVAILABLE, including a
   * TCTI that does not finish initialising within `timeoutMs` (it is released when it does).
   */
  static async open(tcti: string, timeoutMs: number = DEFAULT_COMMAND_TIMEOUT_MS): Promise<EsysContext> {
    const lib = loadTss2();
    const tctiOut: [bigint | null] = [null];
    const init = lib.tctiInit(tcti, tctiOut);
    const rc1 = await withTimeout(init, timeoutMs, () => {
      void init.then(
        () => tctiOut[0] && lib.tctiFinalize([tctiOut[0]]),
        () => undefined,
      );
      return new TpmError(ERR_TPM_UNAVAILABLE, `TPM behind '${tcti}' did not answer within ${timeoutMs} ms`, {
        details: { tcti, timeoutMs },
      });
    });
    if (rc1 !== 0 || !tctiOut[0]) {
      throw new TpmError(ERR_TPM_UNAVAILABLE, `TPM not reachable through '${tcti}': ${lib.rcDecode(rc1)}`, {
        details: { tcti, rc: rcHex(rc1), decoded: lib.rcDecode(rc1) },
      });
    }
    const ctxOut: [bigint | null] = [null];
    const rc2 = Number(lib.esysInit(ctxOut, tctiOut[0], null)) >>> 0;
    if (rc2 !== 0 || !ctxOut[0]) {
      lib.tctiFinalize([tctiOut[0]]);
      throw new TpmError(ERR_TPM_UNAVAILABLE, `ESAPI cannot start on '${tcti}': ${lib.rcDecode(rc2)}`, {
        details: { tcti, rc: rcHex(rc2), decoded: lib.rcDecode(rc2) },
      });
    }
    return new EsysContext(lib, ctxOut[0], tctiOut[0], timeoutMs);
  }

  get open(): boolean {
    return this.ctx !== null;
  }

  /** Wire bytes → opaque C structure of type T. */
  input(type: MuType, wire: Buffer): Buffer {
    const dest = Buffer.alloc(OPAQUE_SIZE);
    const off: [number] = [0];
    const rc = Number(this.lib.unmarshal[type](wire, wire.length, off, dest)) >>> 0;
    if (rc !== 0 || Number(off[0]) !== wire.length) {
      throw new TpmError(ERR_TPM_MARSHAL, `cannot convert ${type} input: ${rc ? this.lib.rcDecode(rc) : 'trailing bytes'}`, {
        details: { type, rc: rcHex(rc), consumed: Number(off[0]), length: wire.length },
      });
    }
    return dest;
  }

  /** ESAPI-allocated structure → wire bytes; frees the structure in every case. */
  output(type: MuType, ptr: bigint | null): Buffer {
    if (!ptr) throw new TpmError(ERR_TPM_MARSHAL, `${type} output missing`);
    try {
      const buf = Buffer.alloc(MARSHAL_SIZE);
      const off: [number] = [0];
      const rc = Number(this.lib.marshal[type](ptr, buf, buf.length, off)) >>> 0;
      if (rc !== 0) {
        throw new TpmError(ERR_TPM_MARSHAL, `cannot convert ${type} output: ${this.lib.rcDecode(rc)}`, {
          details: { type, rc: rcHex(rc) },
        });
      }
      return Buffer.from(buf.subarray(0, Number(off[0])));
    } finally {
      this.lib.esysFree(ptr);
    }
  }

  /** Frees outputs the caller does not need. */
  free(...ptrs: Array<bigint | null | undefined>): void {
    for (const p of ptrs) if (p) this.lib.esysFree(p);
  }

  /**
   * Calls Esys_<name>(ctx, ...args). TPM_RC_RETRY / YIELDED / TESTING are retried with backoff;
   * a TCTI-layer failure is ERR_TPM_UNAVAILABLE; any other code is ERR_TPM_COMMAND.
   */
  async call(name: EsysName, ...args: unknown[]): Promise<void> {
    const ctx = this.live();
    for (let attempt = 0; ; attempt++) {
      const pending = this.lib.esys[name](ctx, ...args);
      const rc = await withTimeout(pending, this.timeoutMs, () => {
        const error = new TpmError(ERR_TPM_UNAVAILABLE, `TPM did not answer ${name} within ${this.timeoutMs} ms`, {
          details: { command: name, timeoutMs: this.timeoutMs },
        });
        this.stuck = { call: pending, error };
        return error;
      });
      if (rc === 0) return;
      if (isRetryable(rc) && attempt < RETRIES) {
        await sleep(Math.min(10 * 2 ** attempt, 500));
        continue;
      }
      throw this.rcError(name, rc);
    }
  }

  rcError(command: string, rc: number): TpmError {
    const decoded = this.lib.rcDecode(rc);
    const details = { command, rc: rcHex(rc), rcValue: rc, decoded };
    if (isUnreachable(rc)) return new TpmError(ERR_TPM_UNAVAILABLE, `TPM stopped answering during ${command}: ${decoded}`, { details });
    return new TpmError(ERR_TPM_COMMAND, `${command} failed: ${decoded} (${rcHex(rc)})`, { details });
  }

  /** Releases an ESYS_TR without flushing the object from the TPM (persistent handles). */
  trClose(handle: number): void {
    if (this.ctx) this.lib.trClose(this.ctx, [handle]);
  }

  /** Flushes a transient object or session; errors are ignored (already gone). */
  async flush(handle: number | undefined): Promise<void> {
    if (handle === undefined || !this.ctx || this.stuck) return;
    await withTimeout(
      this.lib.esys.FlushContext(this.ctx, handle),
      this.timeoutMs,
      () => new TpmError(ERR_TPM_UNAVAILABLE, 'FlushContext timed out'),
    ).catch(() => undefined);
  }

  /** Frees the context and the TCTI; when a native call is stuck, only once it has returned. */
  close(): void {
    const ctx = this.ctx;
    const tcti = this.tcti;
    this.ctx = null;
    this.tcti = null;
    const finalize = () => {
      if (ctx) this.lib.esysFinalize([ctx]);
      if (tcti) this.lib.tctiFinalize([tcti]);
    };
    if (this.stuck) void this.stuck.call.then(finalize, finalize);
    else finalize();
  }

  private live(): bigint {
    if (this.stuck) throw this.stuck.error;
    if (!this.ctx) throw new TpmError(ERR_TPM_CLOSED, 'TPM context is closed');
    return this.ctx;
  }
}
