import { describe, expect, it } from 'vitest';
import { admitStream, type StreamLimits } from '../../../collector/src/http/sse-admission.js';
import type { Principal } from '../../../collector/src/http/router.js';

const limits: StreamLimits = {
  maxStreams: 10,
  maxPerToken: 3,
  reserved: 2,
  reservedFor: 'operator',
  full: { status: 503, code: 'ERR_LIVE_CLIENT_LIMIT' },
  perToken: { status: 429, code: 'ERR_LIVE_TOKEN_LIMIT' },
};
const viewer: Principal = { name: 'kiosk', role: 'viewer' };
const scheduler: Principal = { name: 'slurm', role: 'scheduler' };
const operator: Principal = { name: 'alice', role: 'operator' };

describe('admitStream (per-token cap, operator reserve)', () => {
  // [case, principal, total open, of which unprivileged, this token's, expected refusal]
  it.each([
    ['viewer, room left', viewer, 0, 0, 0, null],
    ['viewer at its token cap', viewer, 5, 5, 3, 'ERR_LIVE_TOKEN_LIMIT'],
    ['viewer below its cap, non-operators hold their whole share', viewer, 8, 8, 0, 'ERR_LIVE_CLIENT_LIMIT'],
    ['scheduler, non-operators hold their whole share', scheduler, 8, 8, 1, 'ERR_LIVE_CLIENT_LIMIT'],
    ['viewer, one slot of the share left', viewer, 7, 7, 2, null],
    ['viewer, operators hold 3 slots: the share counts non-operators only', viewer, 9, 6, 0, null],
    ['operator takes a reserved slot', operator, 8, 8, 0, null],
    ['operator takes the last slot', operator, 9, 8, 2, null],
    ['operator when every slot is taken', operator, 10, 8, 0, 'ERR_LIVE_CLIENT_LIMIT'],
    ['viewer when every slot is taken', viewer, 10, 5, 0, 'ERR_LIVE_CLIENT_LIMIT'],
    ['operator at its token cap, room left', operator, 4, 1, 3, 'ERR_LIVE_TOKEN_LIMIT'],
    ['no principal (no access control): no token cap', null, 7, 7, 99, null],
    ['no principal, the share is used up', null, 8, 8, 0, 'ERR_LIVE_CLIENT_LIMIT'],
  ] as const)('%s', (_name, principal, total, unprivileged, forToken, code) => {
    const a = admitStream(limits, { total, unprivileged, forToken }, principal);
    if (code === null) expect(a).toEqual({ ok: true });
    else expect(a).toMatchObject({ ok: false, code, status: code === 'ERR_LIVE_TOKEN_LIMIT' ? 429 : 503 });
  });

  it('says why a viewer is refused while operators still have room', () => {
    const a = admitStream(limits, { total: 8, unprivileged: 8, forToken: 0 }, viewer);
    expect(a.ok || a.message).toMatch(/2 more are kept for operator tokens/);
  });
});
