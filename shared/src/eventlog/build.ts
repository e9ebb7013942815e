import { createHash } from 'node:crypto';
import { hashAlg, hashAlgId, type HashName } from '../tpm/alg.js';
import { EV } from './event-types.js';
import { initialPcr } from './pcr-bank.js';
import { EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE } from './uefi.js';

/**
 * Builds crypto-agile event logs for tests and benchmarks (simulated agents), with the PCR
 * values a TPM would hold after the same extends. Nothing here is used to verify evidence.
 */
export interface BuildEvent {
  pcr: number;
  type: number;
  data: Uint8Array;
  /** Digests per bank; by default H_bank(data). */
  digests?: Partial<Record<HashName, Uint8Array>>;
}

export interface BuiltEventLog {
  bytes: Buffer;
  /** Expected PCR values per bank for PCRs that events extend: `{ sha256: { "0": hex } }`. */
  pcrs: Record<string, Record<string, string>>;
}

function u16le(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function u64le(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function guidBytes(guid: string): Buffer {
  const h = guid.replace(/-/g, '');
  const le = (s: string) => Buffer.from(s, 'hex').reverse();
  return Buffer.concat([le(h.slice(0, 8)), le(h.slice(8, 12)), le(h.slice(12, 16)), Buffer.from(h.slice(16), 'hex')]);
}

/** UEFI_VARIABLE_DATA for an EV_EFI_VARIABLE_* event. */
export function variableData(guid: string, name: string, value: Uint8Array): Buffer {
  return Buffer.concat([guidBytes(guid), u64le(name.length), u64le(value.length), Buffer.from(name, 'utf16le'), value]);
}

/** UEFI_IMAGE_LOAD_EVENT with a device path holding one file-path node. */
export function imageLoadData(file: string): Buffer {
  const pathStr = Buffer.from(`${file}\0`, 'utf16le');
  const node = Buffer.concat([Buffer.from([4, 4]), u16le(4 + pathStr.length), pathStr]);
  const end = Buffer.from([0x7f, 0xff, 4, 0]);
  const path = Buffer.concat([node, end]);
  return Buffer.concat([u64le(0x7e000000), u64le(0x100000), u64le(0), u64le(path.length), path]);
}

function specIdEvent(banks: HashName[]): Buffer {
  const algs = Buffer.concat(banks.map((b) => Buffer.concat([u16le(hashAlgId(b)), u16le(hashAlg(hashAlgId(b))!.size)])));
  const data = Buffer.concat([
    Buffer.from('Spec ID Event03\0', 'latin1'),
    u32le(0),
    Buffer.from([0, 2, 0, 2]),
    u32le(banks.length),
    algs,
    Buffer.from([0]),
  ]);
  return Buffer.concat([u32le(0), u32le(EV.NO_ACTION), Buffer.alloc(20), u32le(data.length), data]);
}

/** Marshals a crypto-agile log of `events` (after the Spec ID event) and replays it for the expected PCRs. */
export function buildEventLog(events: BuildEvent[], opts: { banks?: HashName[]; startupLocality?: 0 | 3 } = {}): BuiltEventLog {
  const banks = opts.banks ?? ['sha1', 'sha256'];
  const parts: Buffer[] = [specIdEvent(banks)];
  const all: BuildEvent[] = [];
  if (opts.startupLocality !== undefined)
    all.push({
      pcr: 0,
      type: EV.NO_ACTION,
      data: Buffer.concat([Buffer.from('StartupLocality\0', 'latin1'), Buffer.from([opts.startupLocality])]),
    });
  all.push(...events);
  const state = new Map<string, Buffer>();
  for (const e of all) {
    const digests = banks.map((b) => {
      const d =
        e.type === EV.NO_ACTION
          ? Buffer.alloc(hashAlg(hashAlgId(b))!.size)
          : Buffer.from(e.digests?.[b] ?? createHash(b).update(e.data).digest());
      return { b, d };
    });
    parts.push(u32le(e.pcr), u32le(e.type), u32le(banks.length));
    for (const { b, d } of digests) parts.push(u16le(hashAlgId(b)), d);
    parts.push(u32le(e.data.length), Buffer.from(e.data));
    if (e.type === EV.NO_ACTION) continue;
    for (const { b, d } of digests) {
      const k = `${b}:${e.pcr}`;
      const cur = state.get(k) ?? initialPcr(e.pcr, d.length, opts.startupLocality ?? null);
      state.set(k, createHash(b).update(cur).update(d).digest());
    }
  }
  const pcrs: Record<string, Record<string, string>> = {};
  for (const b of banks) pcrs[b] = {};
  for (const [k, v] of [...state].sort((x, y) => Number(x[0].split(':')[1]) - Number(y[0].split(':')[1]))) {
    const [b, pcr] = k.split(':') as [string, string];
    pcrs[b]![pcr] = v.toString('hex');
  }
  return { bytes: Buffer.concat(parts), pcrs };
}

/**
 * A plausible UEFI boot of `n` events (n >= 16): S-CRTM version, firmware blobs, Secure Boot
 * variables in PCR7, separators in PCRs 0-7, shim/grub/kernel applications in PCR4,
 * ExitBootServices in PCR5, filled up with grub commands in PCR8. `variant` changes the
 * bootloader's digest (a different grub), `secureBoot` the SecureBoot variable.
 */
export function simulatedBootLog(n: number, opts: { secureBoot?: boolean; variant?: string; banks?: HashName[] } = {}): BuiltEventLog {
  const ev: BuildEvent[] = [];
  ev.push({ pcr: 0, type: EV.S_CRTM_VERSION, data: Buffer.from('nodeseal sim firmware 1.0\0', 'utf16le') });
  ev.push({ pcr: 0, type: EV.EFI_PLATFORM_FIRMWARE_BLOB, data: Buffer.concat([u64le(0xfff00000), u64le(0x100000)]) });
  ev.push({
    pcr: 7,
    type: EV.EFI_VARIABLE_DRIVER_CONFIG,
    data: variableData(EFI_GLOBAL_VARIABLE, 'SecureBoot', Buffer.from([opts.secureBoot === false ? 0 : 1])),
  });
  ev.push({ pcr: 7, type: EV.EFI_VARIABLE_DRIVER_CONFIG, data: variableData(EFI_GLOBAL_VARIABLE, 'PK', Buffer.from('pk-certificate')) });
  ev.push({ pcr: 7, type: EV.EFI_VARIABLE_DRIVER_CONFIG, data: variableData(EFI_GLOBAL_VARIABLE, 'KEK', Buffer.from('kek-certificate')) });
  ev.push({
    pcr: 7,
    type: EV.EFI_VARIABLE_DRIVER_CONFIG,
    data: variableData(EFI_IMAGE_SECURITY_DATABASE, 'db', Buffer.from('db-certificate')),
  });
  ev.push({
    pcr: 7,
    type: EV.EFI_VARIABLE_DRIVER_CONFIG,
    data: variableData(EFI_IMAGE_SECURITY_DATABASE, 'dbx', Buffer.from('dbx-hashes')),
  });
  for (let pcr = 0; pcr <= 7; pcr++) ev.push({ pcr, type: EV.SEPARATOR, data: Buffer.alloc(4) });
  const grub = createHash('sha256')
    .update(`grubx64.efi ${opts.variant ?? ''}`)
    .digest();
  ev.push({ pcr: 4, type: EV.EFI_BOOT_SERVICES_APPLICATION, data: imageLoadData('\\EFI\\BOOT\\BOOTX64.EFI') });
  ev.push({
    pcr: 4,
    type: EV.EFI_BOOT_SERVICES_APPLICATION,
    data: imageLoadData('\\EFI\\ubuntu\\grubx64.efi'),
    digests: {
      sha1: createHash('sha1').update(grub).digest(),
      sha256: grub,
      sha384: createHash('sha384').update(grub).digest(),
      sha512: createHash('sha512').update(grub).digest(),
    },
  });
  ev.push({ pcr: 5, type: EV.EFI_ACTION, data: Buffer.from('Exit Boot Services Invocation') });
  for (let i = 0; ev.length < n; i++) ev.push({ pcr: 8, type: EV.IPL, data: Buffer.from(`grub_cmd: set option_${i}=${i}\0`) });
  return buildEventLog(ev, { startupLocality: 0, ...(opts.banks ? { banks: opts.banks } : {}) });
}
