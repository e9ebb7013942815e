import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A local stand-in for the Kubernetes API server, speaking just the endpoints the sync uses:
 * GET /api/v1/nodes/{name} and PATCH /api/v1/nodes/{name} (application/json-patch+json, with
 * RFC 6902 add/replace/remove/test; a failed test answers 422 like a real API server).
 * HTTPS with a fresh self-signed certificate (openssl) that the kubeconfig names as its CA, and
 * bearer-token auth, as a real API server would; every request is recorded. No real Kubernetes
 * API server runs in this environment, so the sync is tested against this.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: unknown;
}

type Obj = Record<string, unknown>;

export interface FakeApiServer {
  url: string;
  token: string;
  /** PEM of the server certificate (its own CA). */
  caPem: string;
  nodes: Map<string, Obj>;
  requests: RecordedRequest[];
  /** Called after a GET is answered: lets a test change the node under the client (conflicts). */
  afterGet: ((name: string) => void) | null;
  addNode(name: string, opts?: { labels?: Record<string, string>; annotations?: Record<string, string>; taints?: Obj[] }): void;
  bump(name: string): void;
  close(): Promise<void>;
}

function status(res: ServerResponse, code: number, reason: string, message: string) {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(body);
}

function unescapePointer(s: string) {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** RFC 6902 on a deep copy; throws {code: 422} on a failed test or a bad path. */
export function applyJsonPatch(doc: Obj, ops: { op: string; path: string; value?: unknown }[]): Obj {
  const out = structuredClone(doc);
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map(unescapePointer);
    const last = parts.pop()!;
    let parent: unknown = out;
    for (const p of parts) {
      parent = (parent as Obj)?.[p];
      if (parent === undefined || parent === null || typeof parent !== 'object')
        throw Object.assign(new Error(`path ${op.path} does not exist`), { code: 422 });
    }
    const o = parent as Obj;
    if (op.op === 'test') {
      if (JSON.stringify(o[last]) !== JSON.stringify(op.value)) throw Object.assign(new Error(`test failed at ${op.path}`), { code: 422 });
    } else if (op.op === 'add') o[last] = op.value;
    else if (op.op === 'replace') {
      if (!(last in o)) throw Object.assign(new Error(`replace: ${op.path} missing`), { code: 422 });
      o[last] = op.value;
    } else if (op.op === 'remove') {
      if (!(last in o)) throw Object.assign(new Error(`remove: ${op.path} missing`), { code: 422 });
      delete o[last];
    } else throw Object.assign(new Error(`op ${op.op} not supported here`), { code: 422 });
  }
  return out;
}

function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-fake-k8s-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=fake-apiserver',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-days',
        '1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startFakeApiServer(token = 'test-token-123'): Promise<FakeApiServer> {
  const tls = selfSigned();
  const nodes = new Map<string, Obj>();
  const requests: RecordedRequest[] = [];
  let rv = 1000;
  const fake: FakeApiServer = {
    url: '',
    token,
    caPem: tls.cert,
    nodes,
    requests,
    afterGet: null,
    addNode(name, opts = {}) {
      nodes.set(name, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          resourceVersion: String(++rv),
          labels: { 'kubernetes.io/hostname': name, ...opts.labels },
          ...(opts.annotations ? { annotations: opts.annotations } : {}),
        },
        spec: opts.taints ? { taints: opts.taints } : {},
        status: {},
      });
    },
    bump(name) {
      const n = nodes.get(name)!;
      (n.metadata as Obj).resourceVersion = String(++rv);
    },
    close: async () => {},
  };
  const server = createServer({ key: tls.key, cert: tls.cert }, (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      requests.push({
        method: req.method ?? '',
        path,
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        body,
      });
      if (req.headers.authorization !== `Bearer ${token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
      const m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
      if (!m) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
      const name = decodeURIComponent(m[1]!);
      const node = nodes.get(name);
      if (!node) return status(res, 404, 'NotFound', `nodes "${name}" not found`);
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(node));
        fake.afterGet?.(name);
        return;
      }
      if (req.method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/json-patch+json')
          return status(res, 415, 'UnsupportedMediaType', `unsupported patch type ${req.headers['content-type']}`);
        try {
          const next = applyJsonPatch(node, body as { op: string; path: string }[]);
          (next.metadata as Obj).resourceVersion = String(++rv);
          nodes.set(name, next);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(next));
        } catch (e) {
          status(res, (e as { code?: number }).code ?? 500, 'Invalid', (e as Error).message);
        }
        return;
      }
      status(res, 405, 'MethodNotAllowed', 'method not allowed');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return fake;
}

/** A kubeconfig (JSON is YAML) pointing at the fake server with its bearer token. */
export function kubeconfigFor(fake: FakeApiServer): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: fake.url, 'certificate-authority-data': Buffer.from(fake.caPem).toString('base64') } }],
    users: [{ name: 'sync', user: { token: fake.token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'sync' } }],
    'current-context': 'fake',
  });
}
