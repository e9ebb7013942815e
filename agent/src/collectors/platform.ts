import type { Platform } from '../../../shared/src/report/types.js';
import { ERR_COMMAND_NOT_FOUND, PortError } from '../ports/errors.js';
import { dmiValue, parseDmidecode, type DmiSections } from './dmidecode.js';
import { ERR_PLATFORM_NO_DMI } from './errors.js';
import { OK, attr, keyValues, runChecked, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

const DMI = '/sys/class/dmi/id';
export const DMIDECODE_ARGV = ['dmidecode', '-t', '0,1,2,3'] as const;
export const IPMITOOL_ARGV = ['ipmitool', 'mc', 'info'] as const;

type Field = Exclude<keyof Platform, 'bmcFirmware'>;

/** Platform field → sysfs attribute and dmidecode (section, key). */
const FIELDS: Array<[Field, string, string, string]> = [
  ['systemVendor', 'sys_vendor', 'System Information', 'Manufacturer'],
  ['systemProduct', 'product_name', 'System Information', 'Product Name'],
  ['systemSerial', 'product_serial', 'System Information', 'Serial Number'],
  ['systemUuid', 'product_uuid', 'System Information', 'UUID'],
  ['boardVendor', 'board_vendor', 'Base Board Information', 'Manufacturer'],
  ['boardName', 'board_name', 'Base Board Information', 'Product Name'],
  ['boardSerial', 'board_serial', 'Base Board Information', 'Serial Number'],
  ['biosVendor', 'bios_vendor', 'BIOS Information', 'Vendor'],
  ['biosVersion', 'bios_version', 'BIOS Information', 'Version'],
  ['biosDate', 'bios_date', 'BIOS Information', 'Release Date'],
  ['chassisType', 'chassis_type', 'Chassis Information', 'Type'],
  ['chassisSerial', 'chassis_serial', 'Chassis Information', 'Serial Number'],
];

/** SMBIOS chassis type numbers (sysfs gives the number, dmidecode the name). */
const CHASSIS_TYPES: Record<string, string> = {
  '1': 'Other',
  '2': 'Unknown',
  '3': 'Desktop',
  '4': 'Low Profile Desktop',
  '5': 'Pizza Box',
  '6': 'Mini Tower',
  '7': 'Tower',
  '8': 'Portable',
  '9': 'Laptop',
  '10': 'Notebook',
  '11': 'Hand Held',
  '12': 'Docking Station',
  '13': 'All In One',
  '14': 'Sub Notebook',
  '15': 'Space-saving',
  '16': 'Lunch Box',
  '17': 'Main Server Chassis',
  '18': 'Expansion Chassis',
  '19': 'Sub Chassis',
  '20': 'Bus Expansion Chassis',
  '21': 'Peripheral Chassis',
  '22': 'RAID Chassis',
  '23': 'Rack Mount Chassis',
  '24': 'Sealed-case PC',
  '25': 'Multi-system',
  '26': 'CompactPCI',
  '27': 'AdvancedTCA',
  '28': 'Blade',
  '29': 'Blade Enclosing',
  '30': 'Tablet',
  '31': 'Convertible',
  '32': 'Detachable',
  '33': 'IoT Gateway',
  '34': 'Embedded PC',
  '35': 'Mini PC',
  '36': 'Stick PC',
};

function normalise(field: Field, v: string | null): string | null {
  if (v === null) return null;
  if (field === 'chassisType') return CHASSIS_TYPES[v] ?? v;
  if (field === 'systemUuid') return v.toLowerCase();
  return v;
}

async function dmidecode(ctx: CollectContext): Promise<DmiSections | null> {
  try {
    return parseDmidecode((await runChecked(ctx, DMIDECODE_ARGV)).stdout);
  } catch {
    // dmidecode is an enrichment: missing, not permitted (needs root) or failing leaves sysfs values.
    return null;
  }
}

/** BMC firmware from `ipmitool mc info`; its own source status ('bmc'). */
export async function collectBmc(ctx: CollectContext): Promise<SourceResult<string | null>> {
  try {
    const kv = keyValues((await runChecked(ctx, IPMITOOL_ARGV)).stdout);
    return { status: OK, value: kv.get('Firmware Revision') ?? null };
  } catch (e) {
    const status = statusFromError(e);
    if (e instanceof PortError && e.code === ERR_COMMAND_NOT_FOUND) status.reason = 'ipmitool not installed: BMC firmware not collected';
    return { status, value: null };
  }
}

/**
 * DMI identity from /sys/class/dmi/id, completed by dmidecode where sysfs is missing or not
 * readable (serials and UUID are root-only in sysfs).
 */
export async function collectPlatform(ctx: CollectContext): Promise<SourceResult<Platform | null>> {
  const denied: string[] = [];
  const sysfs = await Promise.all(FIELDS.map(([, file]) => attr(ctx, `${DMI}/${file}`, denied)));
  const dmi = await dmidecode(ctx);
  const platform = { bmcFirmware: null } as Platform;
  let found = 0;
  FIELDS.forEach(([field, , section, key], i) => {
    const v = normalise(field, dmiValue(sysfs[i]) ?? dmiValue(dmi?.get(section)?.get(key)));
    if (v !== null) found++;
    platform[field] = v;
  });
  if (found === 0) {
    return {
      status: unavailable(
        ERR_PLATFORM_NO_DMI,
        'no SMBIOS/DMI data: /sys/class/dmi/id is absent and dmidecode found no table (virtual machine or container?)',
      ),
      value: null,
    };
  }
  const status = denied.length ? { ...OK, reason: `not readable without root: ${denied.map((p) => p.split('/').pop()).join(', ')}` } : OK;
  return { status, value: platform };
}
