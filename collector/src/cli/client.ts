import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NodesealError, UserError, ERR_USAGE } from '../../../shared/src/errors.js';
import type { CliIo } from '../../../shared/src/cli/verb.js';
import { cannotHaveArrived, splitUrlList } from '../../../shared/src/failover.js';

/**
 * What the operator verbs (nodes, node, changes, approve, attest) share: where the collector
 * is and which token to send, one HTTP client that maps every failure to a code and an exit
 * status, and plain-text tables.
 *
 * Exit statuses scripts can branch on:
 *   0  ok (for `node` and `attest`: the node is trusted)
 *   1  the node is not trusted, or the collector refused the request (its error code is printed)
 *   2  usage error (bad flag, missing argument, no collector URL)
 *   3  collector unreachable (connection refused, DNS, TLS, timeout)
 *   4  authentication or authorisation failed (401/403)
 *   5  no such node (404)
 */
export const EXIT = { ok: 0, notTrusted: 1, failed: 1, usage: 2, unreachable: 3, auth: 4, notFound: 5 } as const;

export const ERR_CLI_UNREACHABLE = 'ERR_CLI_UNREACHABLE';
export const ERR_CLI_AUTH = 'ERR_CLI_AUTH';
export const ERR_CLI_NOT_FOUND = 'ERR_CLI_NOT_FOUND';
export const ERR_CLI_RESPONSE = 'ERR_CLI_RESPONSE';
export const ERR_CLI_API = 'ERR_CLI_API';

export const EXIT_CODES_HELP = 'Exit: 0 ok/trusted, 1 not trusted or refused, 2 usage, 3 unreachable, 4 auth, 5 no such node.';
export const TARGET_HELP =
  '--url URL[,URL...] (or NODESEAL_URL; several collectors: the next is tried when one cannot be reached) --token T | --token-file F (or NODESEAL_TOKEN); defaults from $NODESEAL_CLI_CONFIG or ~/.config/nodeseal/cli.json {"url","tokenFile"}';

/** Flags every operator verb accepts (for parseFlags). */
export const TARGET_FLAGS = {
  url: { type: 'string', multiple: true },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** An API failure with the exit status it maps to. */
export class ApiError extends NodesealError {
  constructor(
    code: string,
    message: string,
    readonly exit: number,
    readonly status: number | null = null,
  ) {
    super(code, message);
    this.name = 'ApiError';
  }
}

interface FileConfig {
  url?: string | string[];
  token?: string;
  tokenFile?: string;
}

function readFileConfig(env: NodeJS.ProcessEnv): FileConfig {
  const explicit = env.NODESEAL_CLI_CONFIG;
  const path = explicit ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'nodeseal', 'cli.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (!explicit && (e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UserError(ERR_USAGE, `cannot read CLI config ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UserError(ERR_USAGE, `CLI config ${path} is not valid JSON`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(ERR_USAGE, `CLI config ${path} must be a JSON object`);
  const o = raw as Record<string, unknown>;
  const out: FileConfig = {};
  if (Array.isArray(o.url) && o.url.every((u) => typeof u === 'string')) out.url = o.url as string[];
  for (const k of ['url', 'token', 'tokenFile'] as const) {
    if (o[k] === undefined || (k === 'url' && out.url)) continue;
    if (typeof o[k] !== 'string') throw new UserError(ERR_USAGE, `CLI config ${path}: ${k} must be a string`);
    out[k] = o[k];
  }
  return out;
}

function readToken(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new UserError(ERR_USAGE, `cannot read token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export interface TargetFlags {
  url?: string | string[] | undefined;
  token?: string | undefined;
  'token-file'?: string | undefined;
  timeout?: string | undefined;
}

/** Flags, then environment, then the CLI config file. */
export function clientFrom(flags: TargetFlags, env: NodeJS.ProcessEnv): ApiClient {
  const file = flags.url && (flags.token || flags['token-file']) ? {} : readFileConfig(env);
  const urls = splitUrlList(flags.url ?? env.NODESEAL_URL ?? file.url ?? []);
  if (urls.length === 0) throw new UserError(ERR_USAGE, 'no collector URL: give --url or set NODESEAL_URL');
  const bases = urls.map((url) => {
    let base: URL;
    try {
      base = new URL(url);
    } catch {
      throw new UserError(ERR_USAGE, `collector URL is not a URL: ${JSON.stringify(url)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new UserError(ERR_USAGE, `collector URL must be http:// or https://: ${JSON.stringify(url)}`);
    return base;
  });
  const token =
    flags.token ??
    (flags['token-file'] ? readToken(flags['token-file']) : undefined) ??
    env.NODESEAL_TOKEN ??
    file.token ??
    (file.tokenFile ? readToken(file.tokenFile) : undefined);
  const timeoutSec = flags.timeout === undefined ? 30 : Number(flags.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0 || timeoutSec > 3600)
    throw new UserError(ERR_USAGE, '--timeout must be seconds between 0 and 3600');
  return new ApiClient(bases, token ?? null, timeoutSec * 1000);
}

/**
 * The collector API over one or several base URLs. It sticks to the one that last answered; on a
 * connection failure it tries the next: a GET after any failure to connect or answer, a POST only
 * when the request cannot have arrived (connection refused, DNS), never after a timeout.
 */
export class ApiClient {
  private readonly bases: URL[];
  private current = 0;

  constructor(
    base: URL | readonly URL[],
    private readonly token: string | null,
    private readonly timeoutMs: number,
  ) {
    this.bases = base instanceof URL ? [base] : [...base];
    if (this.bases.length === 0) throw new UserError(ERR_USAGE, 'no collector URL');
  }

  /** The collector in use (the one that last answered, or the first). */
  get base(): URL {
    return this.bases[this.current]!;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T = unknown>(path: string, body: unknown, extraTimeoutMs = 0): Promise<T> {
    return this.request<T>('POST', path, body, extraTimeoutMs);
  }

  private async request<T>(method: string, path: string, body?: unknown, extraTimeoutMs = 0): Promise<T> {
    const failures: string[] = [];
    for (let tried = 0; ; tried++) {
      try {
        return await this.requestOne<T>(this.base, method, path, body, extraTimeoutMs);
      } catch (e) {
        const last = tried + 1 >= this.bases.length;
        const moveOn = e instanceof Unreachable && (method === 'GET' || e.neverArrived);
        if (!(e instanceof Unreachable)) throw e;
        failures.push(e.message);
        if (last || !moveOn)
          throw new ApiError(
            ERR_CLI_UNREACHABLE,
            failures.length > 1 ? `cannot reach any collector: ${failures.join('; ')}` : `cannot reach the collector at ${e.message}`,
            EXIT.unreachable,
          );
        this.current = (this.current + 1) % this.bases.length;
      }
    }
  }

  private async requestOne<T>(base: URL, method: string, path: string, body: unknown, extraTimeoutMs: number): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), base.href.endsWith('/') ? base : new URL(`${base.href}/`));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs + extraTimeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (e as Error).name === 'TimeoutError'
          ? `no answer within ${Math.round((this.timeoutMs + extraTimeoutMs) / 1000)} s`
          : (cause?.code ?? cause?.message ?? (e as Error).message);
      throw new Unreachable(`${base.origin}: ${why}`, cannotHaveArrived(e));
    }
    const text = await res.text().catch(() => '');
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const code = typeof err?.code === 'string' && /^ERR_[A-Z0-9_]{1,60}$/.test(err.code) ? err.code : null;
      const message = typeof err?.message === 'string' ? err.message.slice(0, 300) : `HTTP ${res.status}`;
      if (res.status === 401 || res.status === 403)
        throw new ApiError(
          code ?? ERR_CLI_AUTH,
          `${res.status === 401 ? 'not authenticated' : 'not allowed'}: ${message}${this.token ? '' : ' (no token given: --token or NODESEAL_TOKEN)'}`,
          EXIT.auth,
          res.status,
        );
      if (res.status === 404) throw new ApiError(code ?? ERR_CLI_NOT_FOUND, message, EXIT.notFound, res.status);
      throw new ApiError(code ?? ERR_CLI_API, message, EXIT.failed, res.status);
    }
    if (json === undefined)
      throw new ApiError(ERR_CLI_RESPONSE, `the collector answered ${method} ${url.pathname} with no JSON`, EXIT.failed, res.status);
    return json as T;
  }
}

/** A request that got no answer; `neverArrived` when it cannot have reached the collector. */
class Unreachable extends Error {
  constructor(
    message: string,
    readonly neverArrived: boolean,
  ) {
    super(message);
  }
}

/** Runs a verb body and turns ApiError into its message line and exit status. */
export async function runApi(io: CliIo, verb: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError) {
      io.stderr(`nodeseal ${verb}: ${e.message} (${e.code})\n`);
      return e.exit;
    }
    throw e;
  }
}

/** Terminal-safe text: no control characters from the (untrusted) collector answer. */
export function clean(v: unknown): string {
  if (v === null || v === undefined) return '-';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** A plain left-aligned table; cells longer than `max` are cut. */
export function table(headers: string[], rows: unknown[][], max = 60): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => clean(c)))].map((r) =>
    r.map((c) => (c.length > max ? `${c.slice(0, max - 1)}…` : c)),
  );
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** A node id from the command line: the same shape the collector accepts. */
export function nodeIdArg(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw new UserError(ERR_USAGE, `expected one node id (${usage})`);
  const id = positionals[0]!;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(id)) throw new UserError(ERR_USAGE, `not a node id: ${JSON.stringify(id.slice(0, 80))}`);
  return id;
}

export function ago(iso: unknown, now = Date.now()): string {
  if (typeof iso !== 'string') return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'just now';
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
