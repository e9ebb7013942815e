import { collectInventory } from '../../../agent/src/inventory.js';
import { createHostPorts } from '../../../agent/src/ports/host-ports.js';
import type { Inventory } from '../../../shared/src/report/types.js';

/**
 * Real inventories for drift tests: the agent's own collectors run against the recorded hosts
 * in test/fixtures/hosts (gpu8: 8x Tesla V100S from a datakit capture; a100: 1x A100 SXM4).
 */
export async function recordedInventory(host: 'gpu8' | 'a100'): Promise<Inventory> {
  const { inventory } = await collectInventory(createHostPorts({ root: `test/fixtures/hosts/${host}` }));
  return inventory;
}

export function clone<T>(x: T): T {
  return structuredClone(x);
}
