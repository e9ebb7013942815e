import { parentPort } from 'node:worker_threads';
import { isNodesealError } from '../../../shared/src/errors.js';
import { createEvidencePorts } from './ports.js';
import type { WorkerReply, WorkerRequest } from './verify-pool.js';
import { verifyReport } from './verify-report.js';

/** Worker thread of the verifier pool (verify-pool.ts): runs the pure pipeline on one report at a time. */
const ports = createEvidencePorts();
parentPort!.on('message', (req: WorkerRequest) => {
  const ctx = { ...req.ctx, issuedNonces: new Set(req.ctx.issuedNonces), usedNonces: new Set(req.ctx.usedNonces) };
  verifyReport(req.jws, ctx, ports).then(
    ({ jws: _jws, ...ok }) => parentPort!.postMessage({ id: req.id, ok } satisfies WorkerReply),
    (e: unknown) =>
      parentPort!.postMessage({
        id: req.id,
        error: isNodesealError(e)
          ? { coded: true, code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) }
          : {
              coded: false,
              code: '',
              message: (e as Error)?.message ?? String(e),
              ...((e as Error)?.stack ? { stack: (e as Error).stack } : {}),
            },
      } satisfies WorkerReply),
  );
});
