import { describe, expect, it } from 'vitest';
import { joinPresent } from '../../../collector/src/dashboard/client/dom.js';

describe('dashboard text: joinPresent', () => {
  it('joins what is present and shows one dash when nothing is (never "— —")', () => {
    expect(joinPresent(['Dell Inc.', 'PowerEdge XE9680'])).toBe('Dell Inc. PowerEdge XE9680');
    expect(joinPresent([null, undefined])).toBe('—');
    expect(joinPresent(['', 'R760'])).toBe('R760');
    expect(joinPresent(['AMD EPYC', null], ' · ')).toBe('AMD EPYC');
    expect(joinPresent([0, false])).toBe('0 false');
  });
});
