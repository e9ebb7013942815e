import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectTpmEvidence, openTpm, withTpm, ERR_TPM_UNAVAILABLE } from '../../../agent/src/index.js';
import { isRetryable, isUnreachable } from '../../../agent/src/tpm/errors.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';

let tpm: Swtpm;
beforeAll(async () => {
  tpm = await startSwtpm();
}, 30_000);
afterAll(async () => {
  await tpm?.stop();
});

/**
 * A TPM that stops answering: a listener pair in front of the swtpm whose control channel is
 * forwarded (so the TCTI initialises) and whose command channel swallows everything, or (silentControl)
 * whose both channels are silent.
 */
async function silentTpm(silentControl: boolean): Promise<{ tcti: string; stop: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const listen = (port: number, onConn: (c: Socket) => void) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer(onConn);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  const swallow = (c: Socket) => sockets.push(c);
  const forward = (c: Socket) => {
    const up = connect(tpm.port + 1, '127.0.0.1');
    c.pipe(up).pipe(c);
    sockets.push(c, up);
  };
  for (let i = 0; i < 100; i++) {
    const port = 30001 + 2 * Math.floor(Math.random() * 10000);
    const data = await listen(port, swallow).catch(() => null);
    if (!data) continue;
    const ctrl = await listen(port + 1, silentControl ? swallow : forward).catch(() => null);
    if (!ctrl) {
      data.close();
      continue;
    }
    return {
      tcti: `swtpm:host=127.0.0.1,port=${port}`,
      stop: async () => {
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise((r) => data.close(r)), new Promise((r) => ctrl.close(r))]);
      },
    };
  }
  throw new Error('no two consecutive free ports');
}

describe('no TPM present', () => {
  it.each([
    ['swtpm nobody listens on', 'swtpm:host=127.0.0.1,port=1'],
    ['missing device node', 'device:/dev/nodeseal-no-such-tpm'],
    ['TCTI library that does not exist', 'nodeseal-no-such-tcti:x'],
  ])('%s → ERR_TPM_UNAVAILABLE with the reason', async (_what, tcti) => {
    const err = await openTpm(tcti).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: ERR_TPM_UNAVAILABLE });
    expect((err as Error).message).toContain(tcti);
    expect((err as { details: { decoded: string } }).details.decoded).toMatch(/\S/);
  });

  it.each([
    ['while the TCTI initialises', true, /did not answer within/],
    ['on the first command', false, /did not answer GetCapability within/],
  ])(
    'a TPM that stops answering %s is ERR_TPM_UNAVAILABLE after the timeout, without blocking the event loop',
    async (_w, silentControl, message) => {
      const silent = await silentTpm(silentControl);
      try {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 20);
        const err = await openTpm(silent.tcti, { commandTimeoutMs: 400 }).then(
          () => null,
          (e: unknown) => e,
        );
        clearInterval(timer);
        expect(err).toMatchObject({ code: ERR_TPM_UNAVAILABLE, message: expect.stringMatching(message) });
        expect(ticks).toBeGreaterThan(5);
      } finally {
        await silent.stop();
      }
    },
  );

  it('withTpm never runs the callback without a TPM', async () => {
    let ran = false;
    await expect(withTpm('device:/dev/nodeseal-no-such-tpm', async () => (ran = true))).rejects.toMatchObject({
      code: ERR_TPM_UNAVAILABLE,
    });
    expect(ran).toBe(false);
  });

  it('collectTpmEvidence returns status unavailable instead of throwing', async () => {
    const ev = await collectTpmEvidence({ tcti: 'device:/dev/nodeseal-no-such-tpm', nonce: null, eventLogPath: '/nonexistent' });
    expect(ev).toMatchObject({ status: 'unavailable', code: ERR_TPM_UNAVAILABLE });
  });
});

describe('response-code classes', () => {
  it.each([
    [0x922, true, false], // TPM_RC_RETRY
    [0x908, true, false], // TPM_RC_YIELDED
    [0x90a, true, false], // TPM_RC_TESTING
    [0x101, false, false], // TPM_RC_FAILURE
    [0x0a000a, false, true], // TSS2_TCTI_RC_IO_ERROR
    [0x070922, false, false], // ESAPI layer, same low bits: not a TPM retry
  ])('0x%s → retry %s, unreachable %s', (rc, retry, unreachable) => {
    expect(isRetryable(rc)).toBe(retry);
    expect(isUnreachable(rc)).toBe(unreachable);
  });
});
