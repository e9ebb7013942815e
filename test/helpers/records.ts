import type { NodeRecord } from '../../collector/src/store/store.js';

/**
 * A stored node row for tests: pinned on first contact (TOFU), no keys, no summary, seq 1, no
 * reasons unless given. The caller names the node, its status and its times, which tests are about.
 */
export function nodeRecord(
  fields: Pick<NodeRecord, 'nodeId' | 'status' | 'firstSeenAt' | 'lastSeenAt' | 'verifiedAt'> & Partial<NodeRecord>,
): NodeRecord {
  return { jwk: null, kid: null, akPublic: null, lastSeq: 1, reasons: [], enrolledVia: 'tofu', revokedAt: null, summary: null, ...fields };
}
