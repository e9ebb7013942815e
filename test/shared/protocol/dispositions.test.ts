import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as codes from '../../../shared/src/protocol/codes.js';
import { agentDisposition, dispositionOf, operatorStep } from '../../../shared/src/protocol/dispositions.js';

/**
 * Every code the collector can send an agent, derived from the source: the ERR_ codes of every
 * file the collector's WebSocket endpoint (upgrade, hub, session) and the enrolment service it
 * calls import, directly or not. An error frame carries the code of any NodesealError thrown on
 * that path, so this over-approximates what can reach an agent; each one needs a disposition.
 */
function importClosure(entries: string[]): string[] {
  const seen = new Set<string>();
  const stack = entries.map((e) => resolve(e));
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of readFileSync(f, 'utf8').matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/g)) {
      const target = resolve(dirname(f), m[1]!.replace(/\.js$/, '.ts'));
      if (existsSync(target)) stack.push(target);
    }
  }
  return [...seen].map((f) => relative(process.cwd(), f));
}

const ENTRIES = [
  'collector/src/ws/upgrade.ts',
  'collector/src/ws/hub.ts',
  'collector/src/ws/session.ts',
  'collector/src/enroll/service.ts',
];
const files = importClosure(ENTRIES);
const sent = new Set<string>();
for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\bERR_[A-Z0-9_]+\b/g)) sent.add(m[0]);

describe('wire-protocol dispositions', () => {
  it('reads the codes from the whole path (ws, pipeline, enrolment, JWS, TPM, event log)', () => {
    expect(files).toEqual(expect.arrayContaining(['collector/src/pipeline/verify-report.ts', 'shared/src/protocol/codes.ts']));
    expect(sent.size).toBeGreaterThan(60);
    for (const c of ['ERR_NODE_REVOKED', 'ERR_JWS_SIGNATURE', 'ERR_TPM_QUOTE_NONCE', 'ERR_ENROLL_TOKEN_USED', 'ERR_INTERNAL'])
      expect(sent).toContain(c);
  });

  it('gives every code the collector can send a disposition', () => {
    expect([...sent].filter((c) => dispositionOf(c) === undefined).sort()).toEqual([]);
  });

  it('gives every protocol code a disposition', () => {
    const defined = Object.entries(codes)
      .filter(([k]) => k.startsWith('ERR_'))
      .map(([, v]) => v as string);
    expect(defined.filter((c) => dispositionOf(c) === undefined)).toEqual([]);
  });

  it('maps the codes that matter to the agent as intended', () => {
    expect(dispositionOf('ERR_NODE_REVOKED')).toBe('refused');
    expect(dispositionOf('ERR_HELLO_KEY_MISMATCH')).toBe('refused');
    expect(dispositionOf('ERR_ENROLL_TOKEN_REQUIRED')).toBe('refused');
    expect(dispositionOf('ERR_ENROLL_NOT_ENROLLED')).toBe('refused');
    expect(dispositionOf('ERR_WS_SHUTDOWN')).toBe('move');
    expect(dispositionOf('ERR_WS_CAPACITY')).toBe('move');
    expect(dispositionOf('ERR_INTERNAL')).toBe('retry');
    expect(dispositionOf('ERR_WS_RATE_LIMIT')).toBe('retry');
    expect(dispositionOf('ERR_ENROLL_CHALLENGE_EXPIRED')).toBe('retry');
    expect(dispositionOf('ERR_REPORT_SEQ')).toBe('drop');
    expect(dispositionOf('ERR_REPORT_REPLAY')).toBe('drop');
    expect(dispositionOf('ERR_JWS_SIGNATURE')).toBe('drop');
    expect(dispositionOf('ERR_TPM_QUOTE_PCR_DIGEST')).toBe('drop');
  });

  it('treats a code it does not know (a newer collector) as transient', () => {
    expect(dispositionOf('ERR_FROM_THE_FUTURE')).toBeUndefined();
    expect(agentDisposition('ERR_FROM_THE_FUTURE')).toBe('retry');
  });

  it("names the operator's next step for refusals", () => {
    expect(operatorStep('ERR_NODE_REVOKED')).toMatch(/enroll-token/);
    expect(operatorStep('ERR_HELLO_KEY_MISMATCH')).toMatch(/pinned to another key/);
    for (const c of [...sent].filter((c) => dispositionOf(c) === 'refused')) expect(operatorStep(c).length).toBeGreaterThan(20);
  });
});
