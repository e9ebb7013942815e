import { describe, expect, it } from 'vitest';
import { compressHostlist, expandHostlist, ERR_HOSTLIST_SYNTAX, ERR_HOSTLIST_TOO_LARGE } from '../../shared/src/hostlist.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('expandHostlist', () => {
  it.each([
    ['a,b,c', ['a', 'b', 'c']],
    ['gpu[001-003]', ['gpu001', 'gpu002', 'gpu003']],
    ['gpu[8-11]', ['gpu8', 'gpu9', 'gpu10', 'gpu11']],
    ['n[1,3,5-6]', ['n1', 'n3', 'n5', 'n6']],
    ['rack[1-2]-gpu[01-02]', ['rack1-gpu01', 'rack1-gpu02', 'rack2-gpu01', 'rack2-gpu02']],
    ['gpu[01-02],cpu7, gpu01', ['gpu01', 'gpu02', 'cpu7']],
    ['node[098-101]', ['node098', 'node099', 'node100', 'node101']],
    ['  ', []],
    ['host.example-1', ['host.example-1']],
  ])('%s', (expr, want) => {
    expect(expandHostlist(expr)).toEqual(want);
  });

  it.each([
    'gpu[1-',
    'gpu]1[',
    'gpu[[1-2]]',
    'gpu[]',
    'gpu[3-1]',
    'gpu[a-b]',
    'a,,b',
    'gp u1',
    'gpu[1-2-3]',
    'x;rm -rf',
    'gpu[99999999999999999999]',
  ])('rejects %s with ERR_HOSTLIST_SYNTAX', (expr) => {
    expect(codeOf(() => expandHostlist(expr))).toBe(ERR_HOSTLIST_SYNTAX);
  });

  it('rejects hostile huge ranges before expanding them', () => {
    expect(codeOf(() => expandHostlist('gpu[0-999999999999999]'))).toBe(ERR_HOSTLIST_TOO_LARGE);
    expect(codeOf(() => expandHostlist('a[0-999]b[0-999]c[0-999]'))).toBe(ERR_HOSTLIST_TOO_LARGE);
    expect(codeOf(() => expandHostlist('n[1-6000],m[1-6000]'))).toBe(ERR_HOSTLIST_TOO_LARGE);
    expect(codeOf(() => expandHostlist('x'.repeat(70_000)))).toBe(ERR_HOSTLIST_TOO_LARGE);
    expect(codeOf(() => expandHostlist('n[1-20]', { maxHosts: 10 }))).toBe(ERR_HOSTLIST_TOO_LARGE);
  });

  it('rejects names longer than the limit', () => {
    expect(codeOf(() => expandHostlist('a'.repeat(300)))).toBe(ERR_HOSTLIST_SYNTAX);
  });
});

describe('compressHostlist', () => {
  it.each([
    [['gpu001', 'gpu002', 'gpu003', 'gpu007'], 'gpu[001-003,007]'],
    [['b', 'a'], 'a,b'],
    [['gpu9', 'gpu10', 'gpu11', 'cpu1'], 'cpu1,gpu[9-11]'],
    [['n1'], 'n1'],
    [['n01', 'n1'], 'n01,n1'],
    [[], ''],
  ])('%j → %s', (names, want) => {
    expect(compressHostlist(names)).toBe(want);
  });

  it('round-trips through expandHostlist', () => {
    const names = ['gpu001', 'gpu002', 'gpu010', 'gpu100', 'gpu101', 'login', 'rack1-n3', 'rack1-n4', 'x9', 'x10', 'n007', 'n7'];
    const back = expandHostlist(compressHostlist(names));
    expect(new Set(back)).toEqual(new Set(names));
    expect(back.length).toBe(names.length);
  });
});
