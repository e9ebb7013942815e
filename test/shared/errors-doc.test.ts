import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const roots = ['agent/src', 'collector/src', 'shared/src', 'bin'];

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const codePattern = /\bERR_[A-Z0-9_]+\b/g;

describe('docs/errors.md', () => {
  const sourceCodes = new Set<string>();
  for (const root of roots)
    for (const f of tsFiles(root)) for (const m of readFileSync(f, 'utf8').matchAll(codePattern)) sourceCodes.add(m[0]);
  const docCodes = new Set([...readFileSync('docs/errors.md', 'utf8').matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!));

  it('lists every code the source uses', () => {
    expect([...sourceCodes].filter((c) => !docCodes.has(c)).sort()).toEqual([]);
  });
  it('lists no code the source no longer uses', () => {
    expect([...docCodes].filter((c) => !sourceCodes.has(c)).sort()).toEqual([]);
  });
});
