import type { ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for processes that must be told their
 * port up front (a collector restarted on the same address, Slurm daemons). Prefer listening on
 * port 0 wherever the program can report the port it got.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Waits until `GET base/healthz` answers 200 (polling every 100 ms); fails as soon as `proc`, the
 * collector process, has exited, or after `timeoutMs`.
 */
export async function waitHealthy(base: string, proc: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`collector exited (${proc.exitCode ?? proc.signalCode}) before ${base}/healthz answered`);
    try {
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      if (res.ok) return;
      last = `status ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base}/healthz did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

/** A test HTTP server listening on 127.0.0.1 (port 0): its base URL, and `close` that drops open connections. */
export interface LoopbackServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function listenOnLoopback(server: Server): Promise<LoopbackServer> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
