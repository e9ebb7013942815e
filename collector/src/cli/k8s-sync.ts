import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { parseFlags, type CliIo, type Verb } from '../../../shared/src/cli/verb.js';
import { expandHostlist } from '../../../shared/src/hostlist.js';
import { isNodesealError, NodesealError, UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import type { TrustStatus } from '../../../shared/src/report/types.js';
import { ERR_K8S_API, K8sSync, kubeNodesApi, type NodesApi, type TaintEffect } from '../integrations/k8s.js';
import { ERR_SSE_FRAME_TOO_LARGE } from '../http/errors.js';
import { readEventStream } from '../http/sse-reader.js';
import { createLogger } from '../logger.js';
import type { TrustView } from '../trust/cache.js';
import { clientFrom, runApi, TARGET_FLAGS, TARGET_HELP, type ApiClient } from './client.js';

/**
 * `nodeseal k8s-sync`: keeps Kubernetes node labels and taints in step with nodeseal trust.
 * One full pass from GET /v1/trust, then follows GET /v1/trust/watch (Server-Sent Events),
 * with a full pass again after every reconnect and every --resync seconds.
 */
const STATUSES: TrustStatus[] = ['trusted', 'untrusted', 'unknown', 'stale'];

export interface K8sSyncDeps {
  /** Tests inject a NodesApi; otherwise built from --kubeconfig / in-cluster. */
  nodesApi?: NodesApi;
}

function seconds(v: string | undefined, def: number, name: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1 || n > 86_400) throw new UserError(ERR_USAGE, `${name} must be seconds between 1 and 86400`);
  return n;
}

/** Follows `event: trust` / `event: snapshot` from an SSE body (spec parser); resolves when the stream ends. */
async function followWatch(res: Response, onView: (v: TrustView) => void, signal: AbortSignal): Promise<void> {
  try {
    await readEventStream(
      res.body!,
      (e) => {
        if ((e.event !== 'trust' && e.event !== 'snapshot') || !e.data) return;
        const v = JSON.parse(e.data) as TrustView;
        if (typeof v?.nodeId === 'string' && STATUSES.includes(v.status)) onView(v);
      },
      { signal, maxBufferChars: 4 * 1024 * 1024 },
    );
  } catch (e) {
    if (isNodesealError(e) && e.code === ERR_SSE_FRAME_TOO_LARGE)
      throw new NodesealError(ERR_K8S_API, 'watch frame too large', { cause: e });
    throw e;
  }
}

export function makeK8sSyncVerb(deps: K8sSyncDeps = {}): Verb {
  return {
    summary: 'Label Kubernetes nodes with their nodeseal trust and taint untrusted ones (NoSchedule, optionally NoExecute).',
    usage:
      'nodeseal k8s-sync [--once] [--dry-run] [--kubeconfig FILE [--context NAME] | --in-cluster] [--nodes LIST]\n' +
      '                  [--taint-on untrusted,stale] [--evict] [--resync SEC] [--json] [--url URL] [--token T]\n\n' +
      '  Labels every node the collector knows  nodeseal.io/trust=<trusted|untrusted|unknown|stale>\n' +
      '  Taints nodes whose status is in --taint-on  nodeseal.io/untrusted=<reason code>:NoSchedule\n' +
      '  (--evict adds the NoExecute taint too). Removes only the taints it added (recorded in the\n' +
      '  node annotation nodeseal.io/managed-taints) once the node is trusted again.\n' +
      '  --once      one full pass, then exit (exit 1 if any node could not be updated)\n' +
      '  --dry-run   print what would change; send no PATCH\n' +
      '  --resync    seconds between full passes while following the watch stream (default 300)\n' +
      '  Kubernetes auth: --kubeconfig FILE, or the in-cluster service account (auto when\n' +
      '  KUBERNETES_SERVICE_HOST is set), else ~/.kube/config.\n' +
      `  ${TARGET_HELP}`,
    async run(argv, io) {
      const { values } = parseFlags(argv, {
        ...TARGET_FLAGS,
        once: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        'in-cluster': { type: 'boolean' },
        nodes: { type: 'string' },
        'taint-on': { type: 'string' },
        evict: { type: 'boolean' },
        resync: { type: 'string' },
        json: { type: 'boolean' },
      });
      const taintOn = (values['taint-on'] ?? 'untrusted,stale').split(',').map((s) => s.trim()) as TrustStatus[];
      for (const s of taintOn)
        if (!STATUSES.includes(s) || s === 'trusted')
          throw new UserError(ERR_USAGE, `--taint-on takes untrusted, stale, unknown (got ${s.slice(0, 20)})`);
      if (values.nodes) {
        try {
          expandHostlist(values.nodes);
        } catch (e) {
          throw new UserError(ERR_USAGE, `--nodes: ${(e as Error).message}`);
        }
      }
      if (values.kubeconfig && values['in-cluster']) throw new UserError(ERR_USAGE, '--kubeconfig and --in-cluster exclude each other');
      const resyncMs = seconds(values.resync, 300, '--resync') * 1000;
      const client = clientFrom(values, io.env);
      const token =
        values.token ?? (values['token-file'] ? readFileSync(values['token-file'], 'utf8').trim() : undefined) ?? io.env.NODESEAL_TOKEN;
      const api =
        deps.nodesApi ??
        (await kubeNodesApi({
          ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
          ...(values.context ? { context: values.context } : {}),
          ...(values['in-cluster'] ? { inCluster: true } : {}),
        }).catch((e: unknown) => {
          throw new UserError(
            ERR_USAGE,
            `cannot load Kubernetes credentials${values.kubeconfig ? ` from ${values.kubeconfig}` : ''}: ${(e as Error).message.split('\n')[0]!.trim()}`,
          );
        }));
      const logger = createLogger({
        level: 'warn',
        name: 'k8s-sync',
        destination: new Writable({
          write: (c, _e, cb) => {
            io.stderr(String(c));
            cb();
          },
        }),
      });
      const effects: TaintEffect[] = values.evict ? ['NoSchedule', 'NoExecute'] : ['NoSchedule'];
      const sync = new K8sSync({
        api,
        logger,
        taintOn,
        effects,
        dryRun: Boolean(values['dry-run']),
        onPlan: (node, changes, applied) => {
          if (values.json) io.stdout(`${JSON.stringify({ node, applied, changes })}\n`);
          else io.stdout(`${node}: ${applied ? '' : 'would '}${changes.join('; ')}\n`);
        },
      });
      const q = values.nodes ? `?nodes=${encodeURIComponent(values.nodes)}` : '';
      return runApi(io, 'k8s-sync', async () => {
        const fullPass = async () => {
          const body = await client.get<{ nodes?: unknown }>(`/v1/trust${q}`);
          if (!Array.isArray(body.nodes)) throw new NodesealError(ERR_K8S_API, 'collector answer has no nodes');
          for (const v of body.nodes as TrustView[])
            if (v && typeof v.nodeId === 'string' && STATUSES.includes(v.status)) void sync.submit(v);
          await sync.idle();
        };
        await fullPass();
        if (values.once) return summary(io, sync, values.json);
        await follow(io, client, token, q, sync, fullPass, resyncMs);
        return summary(io, sync, values.json);
      });
    },
  };
}

function summary(io: CliIo, sync: K8sSync, json: boolean | undefined): number {
  const c = sync.counters;
  if (json) io.stdout(`${JSON.stringify({ summary: c })}\n`);
  else
    io.stderr(
      `k8s-sync: ${c.patched} patched, ${c.planned} planned (dry-run), ${c.unchanged} unchanged, ${c.missing} not in Kubernetes, ${c.errors} errors\n`,
    );
  return c.errors > 0 ? 1 : 0;
}

async function follow(
  io: CliIo,
  client: ApiClient,
  token: string | undefined,
  q: string,
  sync: K8sSync,
  fullPass: () => Promise<void>,
  resyncMs: number,
): Promise<void> {
  const stop = io.stopSignal ?? new AbortController().signal;
  let backoff = 1000;
  let lastFull = Date.now();
  const timer = setInterval(
    () => {
      if (Date.now() - lastFull >= resyncMs) {
        lastFull = Date.now();
        fullPass().catch((e: unknown) => io.stderr(`k8s-sync: resync failed: ${(e as Error).message}\n`));
      }
    },
    Math.min(resyncMs, 10_000),
  );
  try {
    while (!stop.aborted) {
      try {
        const res = await fetch(new URL(`v1/trust/watch${q}`, client.base.href.endsWith('/') ? client.base : `${client.base.href}/`), {
          headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          signal: stop,
        });
        if (!res.ok || !res.body) throw new Error(`watch answered HTTP ${res.status}`);
        backoff = 1000;
        await followWatch(res, (v) => void sync.submit(v), stop);
      } catch (e) {
        if (stop.aborted) break;
        io.stderr(`k8s-sync: watch interrupted (${(e as Error).message}); reconnecting in ${Math.round(backoff / 1000)} s\n`);
      }
      if (stop.aborted) break;
      await new Promise((r) => setTimeout(r, Math.random() * backoff).unref());
      backoff = Math.min(backoff * 2, 30_000);
      // Changes may have been missed while disconnected.
      await fullPass().catch((e: unknown) => io.stderr(`k8s-sync: resync failed: ${(e as Error).message}\n`));
      lastFull = Date.now();
    }
  } finally {
    clearInterval(timer);
    await sync.idle();
  }
}

export default makeK8sSyncVerb();
