import { readFileSync } from 'node:fs';
import { parseFlags, type Verb } from '../shared/src/cli/verb.js';
import { ERR_CONFIG, ERR_USAGE, UserError } from '../shared/src/errors.js';
import { AGENT_CONFIG_OPTIONS, resolveAgentConfig } from '../agent/src/config.js';
import { COLLECTOR_CONFIG_OPTIONS, SECTION_KEYS, resolveCollectorConfig } from '../collector/src/config.js';
import { parseAlertsConfig } from '../collector/src/alerts/config.js';
import { parseMetricsConfig } from '../collector/src/metrics.js';
import { parseSchedulerSettings } from '../collector/src/integrations/index.js';

/**
 * `nodeseal config check FILE`: the validation each program runs at start (agent/src/config.ts,
 * collector/src/config.ts and the collector's section parsers), on one file, every problem listed.
 * Lives in bin/ because it spans both programs.
 */
export type ConfigKind = 'agent' | 'collector';

const AGENT_KEYS = new Set(AGENT_CONFIG_OPTIONS.map((o) => o.key));
const COLLECTOR_KEYS = new Set([...COLLECTOR_CONFIG_OPTIONS.map((o) => o.key), ...SECTION_KEYS]);

/**
 * The kind a parsed config object belongs to, from the keys only one program knows (`collector`,
 * `stateDir`, `tcti` ... versus `listen`, `db`, `alerts` ...); null when it has none of either
 * or some of both (then --kind decides).
 */
export function detectConfigKind(obj: Record<string, unknown>): ConfigKind | null {
  const keys = Object.keys(obj);
  const agent = keys.some((k) => AGENT_KEYS.has(k) && !COLLECTOR_KEYS.has(k));
  const collector = keys.some((k) => COLLECTOR_KEYS.has(k) && !AGENT_KEYS.has(k));
  return agent === collector ? null : agent ? 'agent' : 'collector';
}

/** Problems of a section parser (each throws one ERR_CONFIG UserError listing them). */
function sectionProblems(parse: () => unknown): string[] {
  try {
    parse();
    return [];
  } catch (e) {
    if (!(e instanceof UserError) || e.code !== ERR_CONFIG) throw e;
    const listed = e.details?.problems;
    return Array.isArray(listed) ? listed.map(String) : [e.message];
  }
}

export function checkConfigFile(file: string, kind: ConfigKind, env: NodeJS.ProcessEnv = {}): string[] {
  if (kind === 'agent') return resolveAgentConfig({ file, env }).problems;
  const { config, problems } = resolveCollectorConfig({ file, env });
  const s = config.sections;
  return [
    ...problems,
    ...sectionProblems(() => parseAlertsConfig(s.alerts)),
    ...sectionProblems(() => parseMetricsConfig(s.metrics)),
    ...sectionProblems(() => parseSchedulerSettings(s, config.db, env)),
  ];
}

const verb: Verb = {
  summary: [
    'Validate an agent or collector config file with the checks the program runs at start, listing every',
    'problem at once. The kind is detected from the keys (agent: collector, stateDir, tcti ...; collector:',
    'listen, db, alerts ...) unless --kind is given; a file with neither or both needs --kind.',
    'Exit 0 valid, 1 invalid, 2 usage or unreadable file. --env also applies the NODESEAL_* environment,',
    'as the program would (by default only the file and built-in defaults count).',
  ].join('\n'),
  usage: 'nodeseal config check FILE [--kind agent|collector] [--env] [--json]',
  async run(argv, io) {
    const { values, positionals } = parseFlags(
      argv,
      { kind: { type: 'string' }, json: { type: 'boolean' }, env: { type: 'boolean' } },
      true,
    );
    if (positionals.length !== 1)
      throw new UserError(ERR_USAGE, positionals.length ? `one FILE only, got ${positionals.length}` : 'FILE is required');
    const file = positionals[0]!;
    if (values.kind !== undefined && values.kind !== 'agent' && values.kind !== 'collector')
      throw new UserError(ERR_USAGE, `--kind must be agent or collector, not '${values.kind}'`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UserError(ERR_CONFIG, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let kind = values.kind as ConfigKind | undefined;
    let problems: string[];
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      parsed = undefined;
      problems = [`not valid JSON: ${(e as Error).message}`];
    }
    if (parsed !== undefined && (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)))
      problems = ['must be a JSON object'];
    else if (parsed !== undefined) {
      if (!kind) {
        kind = detectConfigKind(parsed as Record<string, unknown>) ?? undefined;
        if (!kind)
          throw new UserError(
            ERR_USAGE,
            `cannot tell whether ${file} configures the agent or the collector (it has ${Object.keys(parsed as object).length ? 'options of both' : 'no options'}); pass --kind agent|collector`,
          );
      }
      problems = checkConfigFile(file, kind, values.env ? io.env : {});
    }
    const prefix = `config file ${file}: `;
    const list = problems!.map((p) => (p.startsWith(prefix) ? p.slice(prefix.length) : p));
    const valid = list.length === 0;
    if (values.json) io.stdout(`${JSON.stringify({ file, kind: kind ?? null, valid, problems: list }, null, 2)}\n`);
    else if (valid) io.stdout(`${file}: valid ${kind} configuration\n`);
    else
      io.stdout(
        `${file}: invalid ${kind ?? ''}${kind ? ' ' : ''}configuration, ${list.length} problem${list.length === 1 ? '' : 's'}:\n${list.map((p) => `  - ${p}\n`).join('')}`,
      );
    return valid ? 0 : 1;
  },
};

export default verb;
