import { createHash } from 'node:crypto';
import { Reader } from '../tpm/reader.js';

/**
 * UEFI structures found in event data: GUIDs, UEFI_VARIABLE_DATA, UEFI_IMAGE_LOAD_EVENT and
 * device paths. All decoders are bounded by the event's own data and return null (or a raw
 * form) on malformed input instead of throwing: firmware writes odd data and the digest, not
 * the data, is what was measured.
 */

class Malformed extends Error {}
const fail = (field: string, _offset: number, message: string) => new Malformed(`${field}: ${message}`);

/** EFI_GUID in its textual form (first three fields little-endian). */
export function guidString(b: Uint8Array): string {
  const h = Buffer.from(b.buffer, b.byteOffset, 16).toString('hex');
  const le = (s: string) => s.match(/../g)!.reverse().join('');
  return `${le(h.slice(0, 8))}-${le(h.slice(8, 12))}-${le(h.slice(12, 16))}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
export const EFI_IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';

export interface UefiVariable {
  guid: string;
  name: string;
  dataLength: number;
  /** sha256 of VariableData, lowercase hex. */
  dataSha256: string;
  data: Buffer;
}

/** Decodes UEFI_VARIABLE_DATA; null when the lengths do not fit the event data. */
export function decodeVariable(data: Buffer): UefiVariable | null {
  try {
    const r = new Reader(data, fail);
    const guid = guidString(r.bytes(16, 'VariableName'));
    const nameLen = r.u64leNumber('UnicodeNameLength');
    const dataLen = r.u64leNumber('VariableDataLength');
    if (nameLen > r.remaining / 2) return null;
    const name = r
      .bytes(nameLen * 2, 'UnicodeName')
      .toString('utf16le')
      .replace(/\0+$/, '');
    const value = r.bytes(dataLen, 'VariableData');
    return { guid, name, dataLength: dataLen, dataSha256: createHash('sha256').update(value).digest('hex'), data: value };
  } catch (e) {
    if (e instanceof Malformed) return null;
    throw e;
  }
}

export interface DevicePathNode {
  type: number;
  subType: number;
  data: Buffer;
}

/** Splits an EFI device path into nodes (at most 256); stops at the end node or the first malformed node. */
export function devicePathNodes(path: Buffer): DevicePathNode[] {
  const nodes: DevicePathNode[] = [];
  let at = 0;
  while (at + 4 <= path.length && nodes.length < 256) {
    const type = path[at]!;
    const subType = path[at + 1]!;
    const len = path.readUInt16LE(at + 2);
    if (len < 4 || at + len > path.length) break;
    if (type === 0x7f && subType === 0xff) break;
    nodes.push({ type, subType, data: path.subarray(at + 4, at + len) });
    at += len;
  }
  return nodes;
}

/** The file path(s) in a device path (media file-path nodes, type 4 subtype 4), joined. */
export function devicePathFile(path: Buffer): string | null {
  const parts = devicePathNodes(path)
    .filter((n) => n.type === 4 && n.subType === 4)
    .map((n) => n.data.toString('utf16le').replace(/\0+$/, ''));
  return parts.length > 0 ? parts.join('') : null;
}

export interface UefiImageLoad {
  locationInMemory: string;
  lengthInMemory: number;
  linkTimeAddress: string;
  /** The device path, raw, lowercase hex. */
  devicePath: string;
  /** The file path inside the device path, when it has one (e.g. \EFI\BOOT\BOOTX64.EFI). */
  file: string | null;
}

/** Decodes UEFI_IMAGE_LOAD_EVENT; null when the lengths do not fit. */
export function decodeImageLoad(data: Buffer): UefiImageLoad | null {
  try {
    const r = new Reader(data, fail);
    const location = r.bytes(8, 'ImageLocationInMemory');
    const length = r.u64leNumber('ImageLengthInMemory');
    const link = r.bytes(8, 'ImageLinkTimeAddress');
    const pathLen = r.u64leNumber('LengthOfDevicePath');
    const path = r.bytes(pathLen, 'DevicePath');
    const hex = (b: Buffer) => `0x${Buffer.from(b).reverse().toString('hex')}`;
    return {
      locationInMemory: hex(location),
      lengthInMemory: length,
      linkTimeAddress: hex(link),
      devicePath: path.toString('hex'),
      file: devicePathFile(path),
    };
  } catch (e) {
    if (e instanceof Malformed) return null;
    throw e;
  }
}
