/**
 * Failover between several collector URLs for the clients that take a list (operator CLI, Slurm
 * prolog, agent): the list syntax, and which failures prove that a request never reached the
 * server. A request that may have arrived (timeout, reset after connecting) is not repeated
 * elsewhere when it is not idempotent: a POST could otherwise take effect twice.
 */

/** Socket error codes raised before a single byte reached the server. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** A URL list: strings with comma-separated URLs, one or several (repeated flags); trimmed, empties and repeats dropped. */
export function splitUrlList(raw: string | readonly string[]): string[] {
  const parts = typeof raw === 'string' ? [raw] : raw;
  return [
    ...new Set(
      parts
        .flatMap((p) => p.split(','))
        .map((u) => u.trim())
        .filter((u) => u.length > 0),
    ),
  ];
}

/**
 * Whether a failed request cannot have reached the server: connection refused, name not
 * resolved, no route. Reads `code` on the error, on its `cause` (fetch), and on every error of an
 * AggregateError (a host name with several addresses, tried in turn).
 */
export function cannotHaveArrived(e: unknown): boolean {
  const seen = new Set<unknown>();
  const check = (x: unknown): boolean => {
    if (!x || typeof x !== 'object' || seen.has(x)) return false;
    seen.add(x);
    const o = x as { code?: unknown; cause?: unknown; errors?: unknown };
    if (Array.isArray(o.errors) && o.errors.length > 0) return o.errors.every(check);
    if (typeof o.code === 'string' && NEVER_CONNECTED.has(o.code)) return true;
    return check(o.cause);
  };
  return check(e);
}
