import type { Inventory, Reason } from '../../../shared/src/report/types.js';
import { inventoryDigest } from '../../../shared/src/inventory/canonicalise.js';
import { diffInventory } from './inventory.js';

/**
 * Inventory drift with a shortcut for unchanged evidence: when the report's inventory digest
 * (checked by the pipeline to be the digest of its canonical inventory) equals the baseline's,
 * the deep diff is skipped and the result is [] — but only for a baseline known to diff empty
 * against itself. Exactly equivalent to diffInventory because:
 *
 * - equal digests mean equal canonical forms (sha256), hence per section the same field values
 *   and the same multisets of devices (canonicalisation only sorts arrays and drops a source's
 *   free-text `reason` and HCA port link state, neither of which diffInventory compares);
 * - device pairing (drift/match.ts) depends only on those multisets, so the devices it leaves
 *   unpaired (added/removed) are the same as when diffing the baseline against itself; all
 *   paired devices are identical, the sources' statuses are equal, and the canonical safety net
 *   finds no differing section.
 *
 * So diffInventory(baseline, current) is empty exactly when diffInventory(baseline, baseline)
 * is (a baseline with devices that cannot be paired, e.g. duplicate identities, is never
 * shortcut). That self-check runs once per baseline digest, together with a check that the
 * stored digest is the baseline inventory's own; its outcome is cached (bounded).
 */
export interface InventoryDiffer {
  (baseline: { inventory: Inventory; inventoryDigest: string }, current: Inventory, currentDigest?: string): Reason[];
  /** How many diffs were skipped (tests, profiling). */
  readonly skipped: number;
}

export function createInventoryDiffer(opts: { maxEntries?: number } = {}): InventoryDiffer {
  const max = Math.max(1, opts.maxEntries ?? 10_000);
  /** baseline digest → the baseline diffs empty against itself and its digest is its own. */
  const selfEmpty = new Map<string, boolean>();
  let skipped = 0;
  const differ = ((baseline, current, currentDigest) => {
    if (currentDigest !== undefined && currentDigest === baseline.inventoryDigest) {
      let ok = selfEmpty.get(baseline.inventoryDigest);
      if (ok === undefined) {
        ok =
          inventoryDigest(baseline.inventory) === baseline.inventoryDigest &&
          diffInventory(baseline.inventory, baseline.inventory).length === 0;
        if (selfEmpty.size >= max) selfEmpty.clear();
        selfEmpty.set(baseline.inventoryDigest, ok);
      }
      if (ok) {
        skipped++;
        return [];
      }
    }
    return diffInventory(baseline.inventory, current);
  }) as InventoryDiffer;
  Object.defineProperty(differ, 'skipped', { get: () => skipped });
  return differ;
}
