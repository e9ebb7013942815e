import { describe, expect, it } from 'vitest';
import { collectTpmEvidence, openTpm, withTpm, ERR_TPM_UNAVAILABLE } from '../../../agent/src/index.js';
import { isRetryable, isUnreachable } from '../../../agent/src/tpm/errors.js';

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

  it('withTpm never runs the callback without a TPM', async () => {
    let ran = false;
    await expect(withTpm('device:/dev/nodeseal-no-such-tpm', async () => (ran = true))).rejects.toMatchObject({ code: ERR_TPM_UNAVAILABLE });
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
