/**
 * Child process for crash.test.ts: a collector's write path and alert module on a real store.
 * It commits a first verdict and lets the alert module queue and deliver it, then commits a
 * drift report through the group committer (store/group-commit.ts, as the report pipeline does)
 * and prints `committed` without emitting the events, so the alert outbox insert never happens.
 * The parent SIGKILLs it at that line: the window between the store's commit and the outbox.
 *
 * argv: sqlite <path> | postgres <url> <schema>, then the receiver URL.
 */
import { pino } from 'pino';
import { parseAlertsConfig, SqlAlertOutbox, startAlerts } from '../../../collector/src/alerts/index.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { createGroupCommitter } from '../../../collector/src/store/group-commit.js';
import { openPostgresStore, openSqliteStore } from '../../../collector/src/store/index.js';
import { reportWrite } from './commit.js';
import { VBIOS_DRIFT, SECRET } from './crash-fixture.js';

const [engine, where, schema] = process.argv.slice(2);
const url = process.argv[process.argv.length - 1]!;
const store = engine === 'postgres' ? await openPostgresStore(where!, { schema: schema! }) : await openSqliteStore(where!);
const events = new CollectorEvents();
const alerts = startAlerts({
  events,
  outbox: new SqlAlertOutbox(store.db),
  config: parseAlertsConfig({ webhooks: [{ name: 'ops', url, secret: SECRET }], backoff: { baseMs: 50, maxMs: 200 } }),
  logger: pino({ level: 'silent' }),
});
const writer = createGroupCommitter(store);

await writer.record(reportWrite(null, 'gpu-crash', 1, 'trusted', []));
events.emit('status-changed', { nodeId: 'gpu-crash', from: null, to: 'trusted', reasons: [], at: new Date().toISOString() });
await alerts.flushed();
while ((await alerts.counts()).pending > 0) await new Promise((r) => setTimeout(r, 10));
process.stdout.write('delivered\n');

await writer.record(reportWrite(await store.getNode('gpu-crash'), 'gpu-crash', 2, 'untrusted', [VBIOS_DRIFT], { drift: [VBIOS_DRIFT] }));
process.stdout.write('committed\n');
await new Promise(() => undefined); // killed here, before any event reaches the alert module
