import type { TrustStatus } from '../../../shared/src/report/types.js';
import type { TrustView } from '../trust/cache.js';

/**
 * What the Kubernetes sync wants a node to look like, as a pure function of the node as read
 * from the API server and its trust. Ownership of taints is recorded on the node itself in the
 * annotation `nodeseal.io/managed-taints` (key:effect, comma separated): a taint is removed
 * only when that annotation says nodeseal added it, so taints added by anyone else (even with
 * our key) are never touched.
 */
export const TRUST_LABEL = 'nodeseal.io/trust';
export const TAINT_KEY = 'nodeseal.io/untrusted';
export const MANAGED_ANNOTATION = 'nodeseal.io/managed-taints';

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

export interface KubeNode {
  name: string;
  resourceVersion: string;
  labels: Record<string, string> | null;
  annotations: Record<string, string> | null;
  taints: Taint[] | null;
}

export interface PlanOptions {
  /** Statuses that taint a node (default untrusted, stale). */
  taintOn: TrustStatus[];
  /** Effects of our taint (default NoSchedule; add NoExecute to evict running pods). */
  effects: TaintEffect[];
}

export type JsonPatchOp =
  | { op: 'test'; path: string; value: unknown }
  | { op: 'add' | 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export interface NodePlan {
  /** JSON Patch (RFC 6902) to send, guarded by a resourceVersion test; empty when nothing changes. */
  patch: JsonPatchOp[];
  /** Human summary of the changes ("label trusted→untrusted", "taint +nodeseal.io/untrusted=gpu.replaced:NoSchedule"). */
  changes: string[];
}

/** A label/taint value: at most 63 of [A-Za-z0-9._-], starting and ending alphanumeric. */
export function labelValue(s: string): string {
  const v = s
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  return v || 'unknown';
}

/** JSON Pointer escaping of one path segment (RFC 6901). */
function seg(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function parseManaged(a: string | undefined): Set<string> {
  return new Set(
    (a ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

export function planNode(node: KubeNode, view: TrustView, opts: PlanOptions): NodePlan {
  const changes: string[] = [];
  const patch: JsonPatchOp[] = [];
  const status = labelValue(view.status);

  const oldLabel = node.labels?.[TRUST_LABEL];
  if (oldLabel !== status) {
    if (!node.labels) patch.push({ op: 'add', path: '/metadata/labels', value: { [TRUST_LABEL]: status } });
    else patch.push({ op: oldLabel === undefined ? 'add' : 'replace', path: `/metadata/labels/${seg(TRUST_LABEL)}`, value: status });
    changes.push(`label ${TRUST_LABEL}=${status}${oldLabel ? ` (was ${oldLabel})` : ''}`);
  }

  const managed = parseManaged(node.annotations?.[MANAGED_ANNOTATION]);
  const current = node.taints ?? [];
  let next: Taint[] = current.map((t) => ({ ...t }));
  const nextManaged = new Set(managed);
  if (opts.taintOn.includes(view.status)) {
    const value = labelValue(view.reasons[0]?.code ?? view.status);
    for (const effect of opts.effects) {
      const id = `${TAINT_KEY}:${effect}`;
      const i = next.findIndex((t) => t.key === TAINT_KEY && t.effect === effect);
      if (i < 0) {
        next.push({ key: TAINT_KEY, value, effect });
        nextManaged.add(id);
        changes.push(`taint +${TAINT_KEY}=${value}:${effect}`);
      } else if (managed.has(id) && next[i]!.value !== value) {
        changes.push(`taint ${TAINT_KEY}=${value}:${effect} (was ${next[i]!.value ?? ''})`);
        next[i] = { key: TAINT_KEY, value, effect };
      }
      // A taint with our key that we did not add is someone else's: left as it is, not claimed.
    }
    // Effects no longer configured (NoExecute turned off) are removed if ours.
    for (const id of managed) {
      const [key, effect] = id.split(':');
      if (key === TAINT_KEY && !opts.effects.includes(effect as TaintEffect)) {
        next = next.filter((t) => !(t.key === key && t.effect === effect));
        nextManaged.delete(id);
        changes.push(`taint -${id}`);
      }
    }
  } else if (view.status === 'trusted') {
    for (const id of managed) {
      const [key, effect] = id.split(':');
      const before = next.length;
      next = next.filter((t) => !(t.key === key && t.effect === effect));
      if (next.length !== before) changes.push(`taint -${id}`);
      nextManaged.delete(id);
    }
  }

  const taintsChanged = JSON.stringify(next) !== JSON.stringify(current);
  if (taintsChanged) patch.push({ op: node.taints ? 'replace' : 'add', path: '/spec/taints', value: next });
  const managedText = [...nextManaged].sort().join(',');
  const oldManaged = node.annotations?.[MANAGED_ANNOTATION];
  if ((oldManaged ?? '') !== managedText) {
    if (managedText === '') patch.push({ op: 'remove', path: `/metadata/annotations/${seg(MANAGED_ANNOTATION)}` });
    else if (!node.annotations) patch.push({ op: 'add', path: '/metadata/annotations', value: { [MANAGED_ANNOTATION]: managedText } });
    else
      patch.push({
        op: oldManaged === undefined ? 'add' : 'replace',
        path: `/metadata/annotations/${seg(MANAGED_ANNOTATION)}`,
        value: managedText,
      });
  }
  if (patch.length === 0) return { patch, changes };
  // Optimistic concurrency: the patch applies only to the node version it was computed from.
  return { patch: [{ op: 'test', path: '/metadata/resourceVersion', value: node.resourceVersion }, ...patch], changes };
}
