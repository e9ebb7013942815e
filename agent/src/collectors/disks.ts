import type { Disk } from '../../../shared/src/report/types.js';
import { ERR_SOURCE_ABSENT } from './errors.js';
import { OK, attr, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

const BLOCK = '/sys/block';
/** Block devices that are not hardware: loop, RAM and compressed-RAM disks, device-mapper, md, nbd. */
const VIRTUAL = /^(loop|ram|zram|dm-|md|nbd|nullb)/;

/** SCSI VPD page 0x80 (unit serial number): 4-byte header, then ASCII. Pure. */
export function parseVpdSerial(bytes: Buffer | null): string | null {
  if (bytes === null || bytes.length < 5) return null;
  const len = bytes.readUInt16BE(2);
  const s = bytes
    .subarray(4, 4 + len)
    .toString('latin1')
    .replace(/\0/g, '')
    .trim();
  return s === '' ? null : s;
}

/**
 * Disks from /sys/block (model, serial, firmware: NVMe, SCSI/SATA and virtio attributes),
 * completed by systeminformation's diskLayout (udev and smartctl data) where sysfs has no value.
 */
export async function collectDisks(ctx: CollectContext): Promise<SourceResult<Disk[]>> {
  try {
    const names = await ctx.files.list(BLOCK);
    if (names === null) return { status: unavailable(ERR_SOURCE_ABSENT, `${BLOCK} is absent`), value: [] };
    let layout: Awaited<ReturnType<NonNullable<CollectContext['sysinfo']>['diskLayout']>> = [];
    let note: string | undefined;
    if (ctx.sysinfo) {
      try {
        layout = await ctx.sysinfo.diskLayout();
      } catch (e) {
        note = `systeminformation diskLayout failed (${(e as Error).message}); sysfs values only`;
      }
    }
    const disks: Disk[] = [];
    for (const name of names) {
      if (VIRTUAL.test(name)) continue;
      const dev = `${BLOCK}/${name}/device`;
      const si = layout.find((d) => d.device === `/dev/${name}`);
      const pick = (v: string | null, alt: string | undefined) => v ?? (alt?.trim() ? alt.trim() : null);
      disks.push({
        name,
        model: pick(await attr(ctx, `${dev}/model`), si?.model),
        serial: pick(
          (await attr(ctx, `${dev}/serial`)) ??
            (await attr(ctx, `${BLOCK}/${name}/serial`)) ??
            parseVpdSerial(await ctx.files.readBytes(`${dev}/vpd_pg80`)),
          si?.serial,
        ),
        firmwareRevision: pick((await attr(ctx, `${dev}/firmware_rev`)) ?? (await attr(ctx, `${dev}/rev`)), si?.firmwareRevision),
      });
    }
    return { status: note ? { ...OK, reason: note } : OK, value: disks };
  } catch (e) {
    return { status: statusFromError(e), value: [] };
  }
}
