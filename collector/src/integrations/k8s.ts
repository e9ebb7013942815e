import type { Logger } from 'pino';
import { NodesealError } from '../../../shared/src/errors.js';
import type { TrustStatus } from '../../../shared/src/report/types.js';
import type { TrustView } from '../trust/cache.js';
import { planNode, type JsonPatchOp, type KubeNode, type TaintEffect } from './k8s-plan.js';

export {
  planNode,
  labelValue,
  TRUST_LABEL,
  TAINT_KEY,
  MANAGED_ANNOTATION,
  type KubeNode,
  type Taint,
  type TaintEffect,
  type JsonPatchOp,
  type NodePlan,
} from './k8s-plan.js';

/**
 * Kubernetes sync: labels every node `nodeseal.io/trust=<status>` and taints untrusted ones
 * `nodeseal.io/untrusted=<code>:NoSchedule` (and NoExecute when asked), removing only the
 * taints it added once the node is trusted again. The API server is reached through the
 * narrow NodesApi port: kubeNodesApi() adapts @kubernetes/client-node (in-cluster service
 * account or kubeconfig); tests use a local HTTP server that speaks the same endpoints.
 */
export const ERR_K8S_API = 'ERR_K8S_API';
export const ERR_K8S_CONFLICT = 'ERR_K8S_CONFLICT';

export interface NodesApi {
  /** GET /api/v1/nodes/{name}; null when the node does not exist (404). */
  getNode(name: string): Promise<KubeNode | null>;
  /** PATCH /api/v1/nodes/{name} with application/json-patch+json. Rejects ERR_K8S_CONFLICT when a test op fails. */
  patchNode(name: string, patch: JsonPatchOp[]): Promise<void>;
}

export interface K8sSyncOptions {
  api: NodesApi;
  logger: Logger;
  dryRun?: boolean;
  taintOn?: TrustStatus[];
  /** Default ['NoSchedule']; add 'NoExecute' to evict pods that do not tolerate it. */
  effects?: TaintEffect[];
  /** nodeseal node id → Kubernetes node name (default: the same). */
  nodeName?: (nodeId: string) => string;
  /** Called for each planned change (dry-run output, audit). */
  onPlan?: (node: string, changes: string[], applied: boolean) => void;
}

export interface K8sCounters {
  patched: number;
  planned: number;
  unchanged: number;
  missing: number;
  conflicts: number;
  errors: number;
}

export class K8sSync {
  readonly counters: K8sCounters = { patched: 0, planned: 0, unchanged: 0, missing: 0, conflicts: 0, errors: 0 };
  private readonly queues = new Map<string, { running: Promise<void>; next: TrustView | null }>();

  constructor(private readonly opts: K8sSyncOptions) {}

  /** Queues a node's trust; one request at a time per node, the latest trust wins. */
  submit(view: TrustView): Promise<void> {
    const name = (this.opts.nodeName ?? ((id: string) => id))(view.nodeId);
    const q = this.queues.get(name);
    if (q) {
      q.next = view;
      return q.running;
    }
    const entry: { running: Promise<void>; next: TrustView | null } = { running: Promise.resolve(), next: null };
    this.queues.set(name, entry);
    entry.running = (async () => {
      let v: TrustView | null = view;
      while (v) {
        await this.apply(name, v);
        v = entry.next;
        entry.next = null;
      }
      this.queues.delete(name);
    })();
    return entry.running;
  }

  async idle(): Promise<void> {
    while (this.queues.size) await Promise.all([...this.queues.values()].map((q) => q.running));
  }

  private async apply(name: string, view: TrustView): Promise<void> {
    const log = this.opts.logger.child({ integration: 'k8s', node: name });
    const planOpts = { taintOn: this.opts.taintOn ?? ['untrusted', 'stale'], effects: this.opts.effects ?? ['NoSchedule'] };
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const node = await this.opts.api.getNode(name);
        if (!node) {
          this.counters.missing++;
          log.debug('no such Kubernetes node');
          return;
        }
        const plan = planNode(node, view, planOpts);
        if (plan.patch.length === 0) {
          this.counters.unchanged++;
          return;
        }
        if (this.opts.dryRun) {
          this.counters.planned++;
          this.opts.onPlan?.(name, plan.changes, false);
          log.info({ changes: plan.changes }, 'dry-run: would patch');
          return;
        }
        await this.opts.api.patchNode(name, plan.patch);
        this.counters.patched++;
        this.opts.onPlan?.(name, plan.changes, true);
        log.info({ changes: plan.changes }, 'patched');
        return;
      } catch (e) {
        const code = (e as NodesealError).code;
        if (code === ERR_K8S_CONFLICT && attempt < 3) {
          this.counters.conflicts++;
          continue; // the node changed under us: read it again and re-plan
        }
        this.counters.errors++;
        log.error({ code: code ?? 'ERR_INTERNAL', err: (e as Error).message }, 'kubernetes update failed');
        return;
      }
    }
  }
}

/** Shape-checks a node object from the API server. */
export function toKubeNode(o: unknown): KubeNode {
  const n = o as {
    metadata?: { name?: unknown; resourceVersion?: unknown; labels?: unknown; annotations?: unknown };
    spec?: { taints?: unknown };
  };
  const md = n?.metadata;
  if (!md || typeof md.name !== 'string' || typeof md.resourceVersion !== 'string')
    throw new NodesealError(ERR_K8S_API, 'API server returned a node without name or resourceVersion');
  const strMap = (m: unknown): Record<string, string> | null => {
    if (m === undefined || m === null) return null;
    if (typeof m !== 'object' || Array.isArray(m) || Object.values(m).some((v) => typeof v !== 'string'))
      throw new NodesealError(ERR_K8S_API, 'node labels/annotations are malformed');
    return m as Record<string, string>;
  };
  const taints = n.spec?.taints;
  if (
    taints !== undefined &&
    taints !== null &&
    (!Array.isArray(taints) ||
      taints.some((t) => !t || typeof (t as { key?: unknown }).key !== 'string' || typeof (t as { effect?: unknown }).effect !== 'string'))
  ) {
    throw new NodesealError(ERR_K8S_API, 'node taints are malformed');
  }
  return {
    name: md.name,
    resourceVersion: md.resourceVersion,
    labels: strMap(md.labels),
    annotations: strMap(md.annotations),
    taints: (taints as KubeNode['taints']) ?? null,
  };
}

/**
 * NodesApi over @kubernetes/client-node. `kubeconfig`: a file path; absent → in-cluster
 * service account when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig.
 * The library is loaded only here, so collectors without Kubernetes never load it.
 */
export async function kubeNodesApi(opts: { kubeconfig?: string; context?: string; inCluster?: boolean } = {}): Promise<NodesApi> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else if (opts.inCluster || process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const patchOpts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
  const status = (e: unknown) => (e as { code?: unknown }).code;
  return {
    async getNode(name) {
      try {
        return toKubeNode(await core.readNode({ name }));
      } catch (e) {
        if (status(e) === 404) return null;
        if (e instanceof NodesealError) throw e;
        throw new NodesealError(
          ERR_K8S_API,
          `GET node ${name}: ${typeof status(e) === 'number' ? `HTTP ${String(status(e))}` : (e as Error).message}`,
          { cause: e },
        );
      }
    },
    async patchNode(name, patch) {
      try {
        await core.patchNode({ name, body: patch }, patchOpts);
      } catch (e) {
        // A failed `test` op is 422 (Invalid) on current API servers, 409 on some older ones.
        if (status(e) === 409 || status(e) === 422)
          throw new NodesealError(ERR_K8S_CONFLICT, `node ${name} changed while patching`, { cause: e });
        throw new NodesealError(
          ERR_K8S_API,
          `PATCH node ${name}: ${typeof status(e) === 'number' ? `HTTP ${String(status(e))}` : (e as Error).message}`,
          { cause: e },
        );
      }
    },
  };
}
