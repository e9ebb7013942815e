import type { Hca, HcaPort } from '../../../shared/src/report/types.js';
import { ERR_SOURCE_ABSENT } from './errors.js';
import { OK, attr, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

const IB = '/sys/class/infiniband';

/** InfiniBand / RoCE HCAs from /sys/class/infiniband/*: firmware, board id, type, node GUID, ports. */
export async function collectHcas(ctx: CollectContext): Promise<SourceResult<Hca[]>> {
  try {
    const names = await ctx.files.list(IB);
    if (names === null) return { status: unavailable(ERR_SOURCE_ABSENT, `${IB} is absent: no InfiniBand/RoCE driver loaded`), value: [] };
    const hcas: Hca[] = [];
    for (const name of names) {
      const base = `${IB}/${name}`;
      const ports: HcaPort[] = [];
      for (const p of (await ctx.files.list(`${base}/ports`)) ?? []) {
        if (!/^\d+$/.test(p)) continue;
        ports.push({
          port: Number(p),
          linkLayer: await attr(ctx, `${base}/ports/${p}/link_layer`),
          state: await attr(ctx, `${base}/ports/${p}/state`),
        });
      }
      ports.sort((a, b) => a.port - b.port);
      hcas.push({
        name,
        hcaType: await attr(ctx, `${base}/hca_type`),
        boardId: await attr(ctx, `${base}/board_id`),
        fwVersion: await attr(ctx, `${base}/fw_ver`),
        nodeGuid: await attr(ctx, `${base}/node_guid`),
        ports,
      });
    }
    return { status: OK, value: hcas };
  } catch (e) {
    return { status: statusFromError(e), value: [] };
  }
}
