import { EV } from './event-types.js';
import { decodeImageLoad, decodeVariable, guidString, type UefiImageLoad, type UefiVariable } from './uefi.js';

/** Event data decoded by type. `raw` when the type carries nothing we decode, or the data is malformed. */
export type EventData =
  | { kind: 'variable'; variable: UefiVariable }
  | { kind: 'image'; image: UefiImageLoad }
  | { kind: 'text'; text: string }
  | { kind: 'separator'; value: number }
  | { kind: 'specId' }
  | { kind: 'startupLocality'; locality: number }
  | { kind: 'raw'; malformed: boolean };

const printable = /^[\x20-\x7e\t\r\n]*$/;

function ascii(data: Buffer): string | null {
  const s = data.toString('latin1').replace(/\0+$/, '');
  return printable.test(s) ? s : null;
}

function utf16(data: Buffer): string | null {
  if (data.length % 2 !== 0 || data.length === 0) return null;
  const s = data.toString('utf16le').replace(/\0+$/, '');
  return printable.test(s) ? s : null;
}

export function decodeEventData(type: number, data: Buffer): EventData {
  switch (type) {
    case EV.NO_ACTION: {
      const sig = data.subarray(0, 16).toString('latin1');
      if (sig.startsWith('Spec ID Event')) return { kind: 'specId' };
      if (sig === 'StartupLocality\0' && data.length === 17) return { kind: 'startupLocality', locality: data[16]! };
      return { kind: 'raw', malformed: false };
    }
    case EV.EFI_VARIABLE_DRIVER_CONFIG:
    case EV.EFI_VARIABLE_BOOT:
    case EV.EFI_VARIABLE_BOOT2:
    case EV.EFI_VARIABLE_AUTHORITY: {
      const variable = decodeVariable(data);
      return variable ? { kind: 'variable', variable } : { kind: 'raw', malformed: true };
    }
    case EV.EFI_BOOT_SERVICES_APPLICATION:
    case EV.EFI_BOOT_SERVICES_DRIVER:
    case EV.EFI_RUNTIME_SERVICES_DRIVER: {
      const image = decodeImageLoad(data);
      return image ? { kind: 'image', image } : { kind: 'raw', malformed: true };
    }
    case EV.SEPARATOR:
      return data.length === 4 ? { kind: 'separator', value: data.readUInt32LE(0) } : { kind: 'raw', malformed: true };
    case EV.S_CRTM_VERSION: {
      const text = utf16(data) ?? (data.length === 16 ? guidString(data) : ascii(data));
      return text !== null ? { kind: 'text', text } : { kind: 'raw', malformed: false };
    }
    case EV.EFI_ACTION:
    case EV.ACTION:
    case EV.IPL:
    case EV.POST_CODE:
    case EV.COMPACT_HASH:
    case EV.EFI_PLATFORM_FIRMWARE_BLOB2:
    case EV.EFI_HANDOFF_TABLES2: {
      const text =
        type === EV.EFI_PLATFORM_FIRMWARE_BLOB2 || type === EV.EFI_HANDOFF_TABLES2
          ? ascii(data.subarray(1, 1 + (data[0] ?? 0)))
          : ascii(data);
      return text !== null && text.length > 0 ? { kind: 'text', text } : { kind: 'raw', malformed: false };
    }
    default:
      return { kind: 'raw', malformed: false };
  }
}

/** One line saying what an event measured: the UEFI variable, the application's path, the action text. */
export function describeEvent(e: { typeName: string; decoded: EventData; data: Buffer }): string {
  const d = e.decoded;
  switch (d.kind) {
    case 'variable':
      return `${d.variable.name} {${d.variable.guid}} (${d.variable.dataLength} bytes, sha256 ${d.variable.dataSha256.slice(0, 16)}…)`;
    case 'image':
      return (
        d.image.file ??
        `image at ${d.image.locationInMemory}, device path ${d.image.devicePath.slice(0, 64)}${d.image.devicePath.length > 64 ? '…' : ''}`
      );
    case 'text':
      return d.text.length > 200 ? `${d.text.slice(0, 200)}…` : d.text;
    case 'separator':
      return `separator 0x${d.value.toString(16)}`;
    case 'startupLocality':
      return `StartupLocality ${d.locality}`;
    case 'specId':
      return 'Spec ID event';
    default:
      return `${e.typeName}, ${e.data.length} bytes`;
  }
}
