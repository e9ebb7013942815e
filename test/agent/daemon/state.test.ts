import { describe, expect, it } from 'vitest';
import { closeCause } from '../../../agent/src/daemon/close-cause.js';
import { errorAction } from '../../../agent/src/daemon/error-action.js';
import { canSend, initialMachine, type Machine, type Policy, transition } from '../../../agent/src/daemon/state.js';

const policy: Policy = {
  urls: ['ws://127.0.0.1:1', 'ws://127.0.0.1:2'],
  backoff: { baseMs: 1000, capMs: 60_000 },
  refused: { baseMs: 10_000, capMs: 300_000 },
};
const max = () => 0.999999;
const err = (code: string) => ({ code, message: code });
const step = (m: Machine, ...events: Parameters<typeof transition>[1][]) => events.reduce((x, e) => transition(x, e, policy, max), m);
const open = { type: 'open', enrol: false, rotation: null } as const;

describe('daemon state transitions (pure)', () => {
  it('connecting → attesting on open; enrolling first when not enrolled, rotating when an announcement is pending', () => {
    const m = initialMachine(policy.urls);
    expect(m.state).toEqual({ name: 'connecting', url: policy.urls[0], attempt: 1 });
    expect(step(m, open).state).toEqual({ name: 'attesting', url: policy.urls[0] });
    const enrolling = step(m, { type: 'open', enrol: true, rotation: null });
    expect(enrolling.state.name).toBe('enrolling');
    expect(canSend(enrolling.state)).toBe(false);
    expect(step(enrolling, { type: 'admitted', rotation: null }).state.name).toBe('attesting');
    expect(step(m, { type: 'open', enrol: false, rotation: { nextKid: 'k2', seq: 7 } }).state).toMatchObject({ name: 'rotating', seq: 7 });
  });

  it('rotating is a state: entered by the announcement, left when it is answered or the connection ends', () => {
    const m = step(initialMachine(policy.urls), open, { type: 'announced', nextKid: 'k2', seq: 3 });
    expect(m.state).toEqual({ name: 'rotating', url: policy.urls[0], nextKid: 'k2', seq: 3 });
    expect(canSend(m.state)).toBe(true);
    expect(step(m, { type: 'rotation-settled' }).state.name).toBe('attesting');
    expect(step(m, { type: 'closed', error: err('ERR_AGENT_CONNECTION_LOST'), disposition: 'retry' }).state.name).toBe('backoff');
  });

  it('carries the error in backoff; the attempt counter survives opens and resets only on an accepted report', () => {
    let m = initialMachine(policy.urls);
    for (let i = 1; i <= 4; i++) {
      m = step(m, open, { type: 'closed', error: err('ERR_INTERNAL'), disposition: 'retry' });
      expect(m.state).toMatchObject({ name: 'backoff', attempt: i, url: policy.urls[0], error: { code: 'ERR_INTERNAL' } });
      expect((m.state as { delayMs: number }).delayMs).toBe(Math.floor(0.999999 * Math.min(60_000, 1000 * 2 ** (i - 1))));
      m = step(m, { type: 'retry' });
      expect(m.state).toMatchObject({ name: 'connecting', attempt: i + 1 });
    }
    m = step(m, open, { type: 'accepted' }, { type: 'closed', error: err('ERR_INTERNAL'), disposition: 'retry' });
    expect(m.state).toMatchObject({ name: 'backoff', attempt: 1 });
  });

  it('move goes to the next URL (wrapping), retry stays; spool and seq are not part of the state', () => {
    let m = step(initialMachine(policy.urls), { type: 'closed', error: err('ERR_AGENT_CONNECT'), disposition: 'move' });
    expect(m.state).toMatchObject({ name: 'backoff', url: policy.urls[1] });
    m = step(m, { type: 'retry' });
    expect(m.state).toMatchObject({ name: 'connecting', url: policy.urls[1], attempt: 2 });
    m = step(m, open, { type: 'closed', error: err('ERR_INTERNAL'), disposition: 'retry' }, { type: 'retry' });
    expect(m.state).toMatchObject({ name: 'connecting', url: policy.urls[1] });
    m = step(m, { type: 'closed', error: err('ERR_WS_SHUTDOWN'), disposition: 'move' }, { type: 'retry' });
    expect(m.state).toMatchObject({ name: 'connecting', url: policy.urls[0] });
  });

  it('refused: stays on the collector, waits at least half the growing step, up to the cap', () => {
    let m = initialMachine(policy.urls);
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      m = transition(m, open, policy, () => 0);
      m = transition(m, { type: 'closed', error: err('ERR_NODE_REVOKED'), disposition: 'refused' }, policy, () => 0);
      expect(m.state).toMatchObject({ name: 'refused', code: 'ERR_NODE_REVOKED', url: policy.urls[0], attempt: i + 1 });
      delays.push((m.state as { delayMs: number }).delayMs);
      m = transition(m, { type: 'retry' }, policy, () => 0);
    }
    expect(delays).toEqual([5000, 10_000, 20_000, 40_000, 80_000, 150_000, 150_000, 150_000]);
  });

  it('ignores events that do not apply; stopped is final', () => {
    const m = initialMachine(policy.urls);
    expect(step(m, { type: 'retry' })).toBe(m);
    expect(step(m, { type: 'admitted', rotation: null })).toBe(m);
    const stopped = step(m, { type: 'stop' });
    expect(stopped.state).toEqual({ name: 'stopped' });
    expect(step(stopped, open, { type: 'retry' })).toBe(stopped);
  });
});

describe('why a connection ended (close-cause)', () => {
  const base = { opened: true, closeCode: 1008, reason: '', ending: null, lastError: null, connectError: null };

  it('a connection that never opened moves on; a refused upgrade uses the body code', () => {
    expect(closeCause({ ...base, opened: false, closeCode: 1006, connectError: 'connect ECONNREFUSED' })).toMatchObject({
      disposition: 'move',
      error: { code: 'ERR_AGENT_CONNECT', message: expect.stringMatching(/ECONNREFUSED/) },
    });
    expect(closeCause({ ...base, opened: false, ending: { refusal: { status: 503, code: 'ERR_WS_CAPACITY' } } })).toMatchObject({
      disposition: 'move',
      error: { code: 'ERR_WS_CAPACITY' },
    });
  });

  it("the collector's close reason, then its last coded error; a drop code ends the report, not the collector", () => {
    expect(closeCause({ ...base, reason: 'ERR_NODE_REVOKED', lastError: { code: 'ERR_NODE_REVOKED', message: 'revoked' } })).toMatchObject({
      disposition: 'refused',
      error: { code: 'ERR_NODE_REVOKED', message: 'revoked' },
    });
    expect(closeCause({ ...base, closeCode: 1001, reason: 'ERR_WS_SHUTDOWN' }).disposition).toBe('move');
    expect(closeCause({ ...base, reason: 'ERR_WS_FRAME_TOO_LARGE' }).disposition).toBe('retry');
  });

  it("the agent's own reason wins; a lost connection moves on, a plain close retries", () => {
    const agent = { error: { code: 'ERR_AGENT_HEARTBEAT', message: 'no pong' }, disposition: 'move' as const };
    expect(closeCause({ ...base, closeCode: 1006, ending: { agent } })).toMatchObject({
      disposition: 'move',
      error: { code: 'ERR_AGENT_HEARTBEAT' },
    });
    expect(closeCause({ ...base, closeCode: 1006 })).toMatchObject({ disposition: 'move', error: { code: 'ERR_AGENT_CONNECTION_LOST' } });
    expect(closeCause({ ...base, closeCode: 1000 })).toMatchObject({ disposition: 'retry', error: { code: 'ERR_AGENT_CONNECTION_LOST' } });
  });
});

describe('what a coded error does (error-action)', () => {
  const ctx = { inFlight: 4, announcedSeq: null, rotating: false };
  it('drops the report in flight for a drop code, ends the connection for the others, ignores errors about other reports', () => {
    expect(errorAction({ code: 'ERR_REPORT_SEQ', seq: 4 }, ctx).action).toEqual({ kind: 'drop', seq: 4 });
    expect(errorAction({ code: 'ERR_WS_FRAME_TOO_LARGE' }, ctx).action).toEqual({ kind: 'drop', seq: 4 });
    expect(errorAction({ code: 'ERR_INTERNAL', seq: 4 }, ctx).action).toEqual({ kind: 'end', disposition: 'retry' });
    expect(errorAction({ code: 'ERR_STORE_OPEN', seq: 4 }, ctx).action).toEqual({ kind: 'end', disposition: 'move' });
    expect(errorAction({ code: 'ERR_REPORT_SEQ', seq: 3 }, ctx).action).toEqual({ kind: 'none' });
    expect(errorAction({ code: 'ERR_NODE_REVOKED' }, ctx)).toMatchObject({ action: { kind: 'none' }, disposition: 'refused' });
  });
  it('a refused announcement settles the rotation; a key mismatch during rotation means the new key was pinned', () => {
    const r = { inFlight: null, announcedSeq: 7, rotating: true };
    expect(errorAction({ code: 'ERR_ENROLL_KEY_ROTATION', seq: 7 }, r)).toMatchObject({ settlesRotation: true, action: { kind: 'none' } });
    expect(errorAction({ code: 'ERR_HELLO_KEY_MISMATCH' }, r).action).toEqual({ kind: 'promote' });
    expect(errorAction({ code: 'ERR_HELLO_KEY_MISMATCH' }, { ...r, rotating: false, announcedSeq: null }).disposition).toBe('refused');
  });
});
