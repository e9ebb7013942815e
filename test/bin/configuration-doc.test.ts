import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_CONFIG_OPTIONS, defaultAgentConfig } from '../../agent/src/config.js';
import { COLLECTOR_CONFIG_OPTIONS, SECTION_KEYS, defaultCollectorConfig } from '../../collector/src/config.js';
import agentVerb from '../../agent/src/cli/agent.js';
import collectorVerb from '../../collector/src/cli/collector.js';

/**
 * docs/configuration.md stays in step with the code: every option of both config schemas has a
 * table row with its environment variable, flag and (for numbers and fixed strings) its default;
 * every flag of `nodeseal agent` and `nodeseal collector` is documented; every section is named.
 */
const DOC = readFileSync(resolve(import.meta.dirname, '../../docs/configuration.md'), 'utf8');
const AGENT_PART = DOC.slice(DOC.indexOf('## Agent ('), DOC.indexOf('## Collector ('));
const COLLECTOR_PART = DOC.slice(DOC.indexOf('## Collector ('));

function rowFor(part: string, key: string): { cells: string[]; index: number } {
  for (const line of part.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const keys = [...cells[0]!.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]);
    const index = keys.indexOf(key);
    if (index >= 0) return { cells, index };
  }
  throw new Error(`docs/configuration.md has no table row for \`${key}\``);
}

function expectDocumented(
  part: string,
  options: ReadonlyArray<{ key: string; env: string; flag: string | null }>,
  defaults: Record<string, unknown>,
) {
  for (const o of options) {
    const { cells, index } = rowFor(part, o.key);
    expect(cells[1], `${o.key}: env`).toContain(`\`${o.env}\``);
    if (o.flag) expect(cells[2], `${o.key}: flag`).toContain(`\`--${o.flag}\``);
    else expect(cells[2], `${o.key}: no flag`).toBe('');
    const d = defaults[o.key];
    if (typeof d === 'number') {
      const numbers = [...cells[3]!.matchAll(/\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));
      expect(numbers[index], `${o.key}: default`).toBe(d);
    } else if (typeof d === 'boolean') expect(cells[3], `${o.key}: default`).toContain(String(d));
    else if (typeof d === 'string' && d !== '' && o.key !== 'nodeId') expect(cells[3], `${o.key}: default`).toContain(d);
  }
}

describe('docs/configuration.md', () => {
  it('documents every agent option with its environment variable, flag and default', () => {
    expect(AGENT_CONFIG_OPTIONS.length).toBeGreaterThan(10);
    expectDocumented(AGENT_PART, AGENT_CONFIG_OPTIONS, defaultAgentConfig() as unknown as Record<string, unknown>);
  });

  it('documents every collector option and section', () => {
    const d = defaultCollectorConfig() as unknown as Record<string, unknown>;
    d.listen = `${defaultCollectorConfig().listen.host}:${defaultCollectorConfig().listen.port}`;
    expectDocumented(COLLECTOR_PART, COLLECTOR_CONFIG_OPTIONS, d);
    for (const s of SECTION_KEYS) expect(COLLECTOR_PART, `section ${s}`).toContain(`\`${s}\``);
  });

  it('documents every flag of nodeseal agent and nodeseal collector', () => {
    for (const [part, usage] of [
      [AGENT_PART, agentVerb.usage],
      [COLLECTOR_PART, collectorVerb.usage],
    ] as const) {
      const flags = [...new Set([...usage.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]))];
      expect(flags.length).toBeGreaterThan(5);
      for (const f of flags) expect(part, f).toMatch(new RegExp(`\`${f}(?![a-z-])[^\`]*\``));
    }
  });
});
