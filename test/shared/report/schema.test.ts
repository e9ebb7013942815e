import { describe, expect, it } from 'vitest';
import { collectInventory } from '../../../agent/src/inventory.js';
import { createHostPorts } from '../../../agent/src/ports/index.js';
import { parseAgentMessage, parseCollectorMessage, parseJsonFrame, parseReportPayload } from '../../../shared/src/report/schema.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
};

describe('report payload schema', async () => {
  const { inventory, inventoryDigest } = await collectInventory(createHostPorts({ root: 'test/fixtures/hosts/gpu8' }));
  const good = {
    v: 1,
    nodeId: 'gpu-01',
    seq: 7,
    nonce: 'ab'.repeat(32),
    collectedAt: '2026-01-01T00:00:00Z',
    inventory,
    inventoryDigest,
    tpm: { status: 'unavailable', reason: 'no TPM', code: 'ERR_X' },
  };

  it('accepts what the agent collects from a recorded 8-GPU host', () => {
    const p = parseReportPayload(JSON.parse(JSON.stringify(good)));
    expect(p.inventory.gpus).toHaveLength(8);
  });

  it.each([
    ['an unknown top-level field', { ...good, admin: true }, 'admin'],
    ['an unknown GPU field', { ...good, inventory: { ...inventory, gpus: [{ ...inventory.gpus[0], backdoor: 1 }] } }, 'inventory.gpus.0'],
    ['a wrong version', { ...good, v: 2 }, 'v'],
    ['a negative seq', { ...good, seq: -1 }, 'seq'],
    ['a non-hex nonce', { ...good, nonce: 'zz'.repeat(32) }, 'nonce'],
    ['a short nonce', { ...good, nonce: 'ab' }, 'nonce'],
    ['a bad node id', { ...good, nodeId: '../etc' }, 'nodeId'],
    ['a bad digest', { ...good, inventoryDigest: 'md5:00' }, 'inventoryDigest'],
    ['an unknown TPM status', { ...good, tpm: { status: 'maybe' } }, 'tpm'],
    [
      'upper-case hex in a quote',
      { ...good, tpm: { status: 'ok', pcrs: {}, quote: { attest: 'AB', signature: '00' }, akPublic: '00', eventLog: null } },
      'tpm',
    ],
  ])('rejects %s with ERR_REPORT_SCHEMA naming the path', (_n, value, path) => {
    let err: any;
    try {
      parseReportPayload(value);
    } catch (e) {
      err = e;
    }
    expect(err?.code).toBe('ERR_REPORT_SCHEMA');
    expect(String(err.details.path)).toContain(path);
  });
});

describe('protocol message schemas', () => {
  it('accepts the protocol messages', () => {
    expect(parseAgentMessage({ type: 'hello', nodeId: 'n1', agentVersion: '0.1.0', kid: 'abc_-1' }).type).toBe('hello');
    expect(parseAgentMessage({ type: 'report', jws: 'a.b.c' }).type).toBe('report');
    expect(parseCollectorMessage({ type: 'challenge', nonce: 'cd'.repeat(32), intervalSec: 60, next: true })).toMatchObject({ next: true });
    expect(
      parseCollectorMessage({
        type: 'verdict',
        seq: 3,
        status: 'untrusted',
        reasons: [{ code: 'gpu.replaced', claim: 'hardware', detail: 'x', before: 'a', after: 'b' }],
      }).type,
    ).toBe('verdict');
  });

  it('rejects unknown types and fields, and invalid JSON, each with its code', () => {
    expect(code(() => parseAgentMessage({ type: 'shell', cmd: 'id' }))).toBe('ERR_MSG_SCHEMA');
    expect(code(() => parseAgentMessage({ type: 'report', jws: 'a.b.c', extra: 1 }))).toBe('ERR_MSG_SCHEMA');
    expect(code(() => parseAgentMessage({ type: 'hello', nodeId: 'n1', agentVersion: '1', kid: 'has space' }))).toBe('ERR_MSG_SCHEMA');
    expect(code(() => parseCollectorMessage({ type: 'verdict', seq: 1, status: 'fine', reasons: [] }))).toBe('ERR_MSG_SCHEMA');
    expect(code(() => parseAgentMessage(null))).toBe('ERR_MSG_SCHEMA');
    expect(code(() => parseJsonFrame('{"type":'))).toBe('ERR_MSG_JSON');
  });
});
