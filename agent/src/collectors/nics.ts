import type { Nic } from '../../../shared/src/report/types.js';
import { ERR_SOURCE_ABSENT } from './errors.js';
import { OK, attr, keyValues, orNull, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

const NET = '/sys/class/net';

/** `ethtool -i IF` output → driver, version, firmware, bus info. Pure. */
export function parseEthtoolInfo(text: string): {
  driver: string | null;
  driverVersion: string | null;
  firmwareVersion: string | null;
  busInfo: string | null;
} {
  const kv = keyValues(text);
  return {
    driver: orNull(kv.get('driver')),
    driverVersion: orNull(kv.get('version')),
    firmwareVersion: orNull(kv.get('firmware-version')),
    busInfo: orNull(kv.get('bus-info')),
  };
}

/** `ethtool -P IF` → "Permanent address: aa:bb:..". Pure. */
export function parseEthtoolPermanent(text: string): string | null {
  const m = /Permanent address:\s*([0-9a-fA-F:]+)/.exec(text);
  const mac = m ? m[1]!.toLowerCase() : null;
  return mac && !/^(00:)+00$/.test(mac) ? mac : null;
}

async function tool(ctx: CollectContext, argv: string[]): Promise<string | null> {
  try {
    const r = await ctx.runner.run(argv, { timeoutMs: ctx.timeoutMs });
    return r.exitCode === 0 ? r.stdout : null;
  } catch {
    return null;
  }
}

/**
 * Physical network interfaces (those with a backing device; lo, bridges, veth, ifb are skipped).
 * ethtool gives driver/firmware/bus info and the permanent MAC; sysfs fills what ethtool lacks.
 */
export async function collectNics(ctx: CollectContext): Promise<SourceResult<Nic[]>> {
  try {
    const names = await ctx.files.list(NET);
    if (names === null) return { status: unavailable(ERR_SOURCE_ABSENT, `${NET} is absent`), value: [] };
    const nics: Nic[] = [];
    let ethtoolMissing = false;
    for (const name of names) {
      const uevent = await ctx.files.readText(`${NET}/${name}/device/uevent`);
      if (uevent === null) continue; // virtual interface
      const dev = keyValues(uevent, '=');
      const info = await tool(ctx, ['ethtool', '-i', name]);
      if (info === null) ethtoolMissing = true;
      const parsed = info === null ? null : parseEthtoolInfo(info);
      const permanent = parseEthtoolPermanent((await tool(ctx, ['ethtool', '-P', name])) ?? '');
      // addr_assign_type 0 = the burned-in address; otherwise the current MAC is not the permanent one.
      const assign = await attr(ctx, `${NET}/${name}/addr_assign_type`);
      const address = assign === '0' ? await attr(ctx, `${NET}/${name}/address`) : null;
      nics.push({
        name,
        driver: parsed?.driver ?? orNull(dev.get('DRIVER')),
        driverVersion: parsed?.driverVersion ?? null,
        firmwareVersion: parsed?.firmwareVersion ?? null,
        busInfo: parsed?.busInfo ?? orNull(dev.get('PCI_SLOT_NAME')),
        permanentMac: permanent ?? address?.toLowerCase() ?? null,
      });
    }
    const status = ethtoolMissing ? { ...OK, reason: 'ethtool unavailable for some interfaces: firmware versions from sysfs only' } : OK;
    return { status, value: nics };
  } catch (e) {
    return { status: statusFromError(e), value: [] };
  }
}
