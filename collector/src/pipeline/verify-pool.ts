import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { NodesealError } from '../../../shared/src/errors.js';
import { verifyReport, type EvidencePorts, type ReportContext, type VerifiedReport } from './verify-report.js';

/**
 * Where the pure pipeline runs. In-thread by default; with `verifyWorkers` > 0 a pool of worker
 * threads runs verifyReport (JWS, schema, quote, event log, drift, verdict) so that several
 * cores verify while the main thread keeps the sockets and the store. Reports of one node stay
 * ordered (the session awaits each under the node's lock); different nodes run in parallel.
 */
export interface ReportVerifier {
  verify(jws: string, ctx: ReportContext): Promise<VerifiedReport>;
  close(): Promise<void>;
}

export function inThreadVerifier(ports: EvidencePorts): ReportVerifier {
  return { verify: (jws, ctx) => verifyReport(jws, ctx, ports), close: async () => undefined };
}

/** What crosses to a worker: the context with its Sets as arrays (the KeyObject is cloneable). */
export interface WorkerRequest {
  id: number;
  jws: string;
  ctx: Omit<ReportContext, 'issuedNonces' | 'usedNonces'> & { issuedNonces: string[]; usedNonces: string[] };
}
export type WorkerReply =
  | { id: number; ok: Omit<VerifiedReport, 'jws'> }
  | { id: number; error: { coded: boolean; code: string; message: string; details?: Record<string, unknown>; stack?: string } };

interface Pending {
  resolve(v: VerifiedReport): void;
  reject(e: unknown): void;
  jws: string;
}

/** Worker code that loads a .ts module with tsx's tsImport (tsx is a development dependency). */
function tsBootstrap(file: URL): string {
  const api = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  return `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(file.href)}, ${JSON.stringify(file.href)}))`;
}

export function createVerifierPool(size: number): ReportVerifier {
  const self = import.meta.url;
  const isTs = self.endsWith('.ts');
  const file = new URL(isTs ? './verify-worker.ts' : './verify-worker.js', self);
  const workers: Array<{ w: Worker; busy: number }> = [];
  const pending = new Map<number, Pending>();
  let nextId = 1;
  for (let i = 0; i < size; i++) {
    // From TypeScript sources (development, tests) the worker loads its module through tsx.
    const w = isTs ? new Worker(tsBootstrap(file), { eval: true }) : new Worker(file);
    const slot = { w, busy: 0 };
    w.on('message', (m: WorkerReply) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      slot.busy--;
      if ('ok' in m) p.resolve({ ...m.ok, jws: p.jws });
      else if (m.error.coded)
        p.reject(new NodesealError(m.error.code, m.error.message, m.error.details ? { details: m.error.details } : {}));
      else p.reject(Object.assign(new Error(m.error.message), { stack: m.error.stack }));
    });
    w.on('error', (e) => {
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(e);
      }
    });
    w.unref();
    workers.push(slot);
  }
  return {
    verify(jws, ctx) {
      const slot = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      const id = nextId++;
      slot.busy++;
      const req: WorkerRequest = { id, jws, ctx: { ...ctx, issuedNonces: [...ctx.issuedNonces], usedNonces: [...ctx.usedNonces] } };
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, jws });
        slot.w.postMessage(req);
      });
    },
    async close() {
      await Promise.all(workers.map((s) => s.w.terminate()));
    },
  };
}
