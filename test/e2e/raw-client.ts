import WebSocket from 'ws';

/** A hand-driven protocol client for hostile tests: sends whatever it is told, records everything. */
export class RawClient {
  readonly messages: any[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      try {
        this.messages.push(JSON.parse(d.toString()));
      } catch {
        this.messages.push({ unparsable: d.toString() });
      }
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  static async open(wsBase: string, protocol = 'nodeseal.v1', path = '/v1/agent'): Promise<RawClient> {
    const ws = new WebSocket(wsBase + path, protocol, { maxPayload: 64 * 1024 * 1024 });
    const c = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Waits for the next message (after index `from`) that satisfies `pred`. */
  async next(pred: (m: any) => boolean, timeoutMs = 5000, from = 0): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.slice(from).find(pred);
      if (m) return m;
      if (this.closed)
        throw new Error(
          `connection closed (${this.closed.code} ${this.closed.reason}) while waiting; got ${JSON.stringify(this.messages).slice(0, 500)}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection not closed');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed;
  }

  close(): void {
    this.ws.terminate();
  }
}
