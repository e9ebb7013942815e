/**
 * Child process for durability.test.ts: writes reports to a SQLite store as fast as it can and
 * prints `ack <node> <seq>` after each write resolves (the moment the collector would
 * acknowledge the agent). The parent SIGKILLs it mid-stream.
 *
 * argv: <db path> [single|group]. `single`: one node, store.recordReport one at a time.
 * `group`: eight nodes writing concurrently through the group committer (store/group-commit.ts),
 * so acknowledgements come out of shared transactions.
 */
import { openSqliteStore } from '../../../collector/src/store/open.js';
import { createGroupCommitter } from '../../../collector/src/store/group-commit.js';
import type { ReportWrite } from '../../../collector/src/store/store.js';

const path = process.argv[2]!;
const mode = process.argv[3] ?? 'single';
const store = await openSqliteStore(path);
const writer = createGroupCommitter(store);

function write(nodeId: string, seq: number): ReportWrite {
  const at = new Date().toISOString();
  return {
    report: {
      nodeId,
      seq,
      receivedAt: at,
      nonce: null,
      kind: 'history',
      status: 'trusted',
      reasons: [],
      inventoryDigest: `sha256:${seq % 3}`,
      pcrDigest: null,
      jws: `h.p${seq}.s`,
    },
    changes: [{ nodeId, seq, at, code: 'gpu.added', claim: 'hardware', detail: `GPU ${seq}`, before: null, after: seq }],
    node: {
      nodeId,
      jwk: null,
      kid: 'k',
      akPublic: null,
      lastSeq: seq,
      status: 'trusted',
      reasons: [],
      firstSeenAt: at,
      lastSeenAt: at,
      verifiedAt: at,
      enrolledVia: 'tofu',
      revokedAt: null,
      summary: null,
    },
  };
}

process.stdout.write('ready\n');
if (mode === 'group') {
  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const nodeId = `durable-g${i}`;
      for (let seq = 1; ; seq++) {
        await writer.record(write(nodeId, seq));
        process.stdout.write(`ack ${nodeId} ${seq}\n`);
      }
    }),
  );
} else {
  for (let seq = 1; ; seq++) {
    const w = write('durable-1', seq);
    await store.recordReport(w.report, w.changes, w.node);
    process.stdout.write(`ack durable-1 ${seq}\n`);
  }
}
