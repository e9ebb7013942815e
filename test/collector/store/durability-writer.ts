/**
 * Child process for durability.test.ts: writes reports to a SQLite store as fast as it can and
 * prints `ack <seq>` after each recordReport resolves (the moment the collector would
 * acknowledge the agent). The parent SIGKILLs it mid-stream.
 */
import { openSqliteStore } from '../../../collector/src/store/open.js';

const path = process.argv[2]!;
const store = await openSqliteStore(path);
process.stdout.write('ready\n');
for (let seq = 1; ; seq++) {
  const at = new Date().toISOString();
  await store.recordReport(
    { nodeId: 'durable-1', seq, receivedAt: at, nonce: null, kind: 'history', status: 'trusted', reasons: [], inventoryDigest: `sha256:${seq % 3}`, pcrDigest: null, jws: `h.p${seq}.s` },
    [{ nodeId: 'durable-1', seq, at, code: 'gpu.added', claim: 'hardware', detail: `GPU ${seq}`, before: null, after: seq }],
    { nodeId: 'durable-1', jwk: null, kid: 'k', akPublic: null, lastSeq: seq, status: 'trusted', reasons: [], firstSeenAt: at, lastSeenAt: at, verifiedAt: at, enrolledVia: 'tofu', revokedAt: null, summary: null },
  );
  process.stdout.write(`ack ${seq}\n`);
}
