import { readFileSync } from 'node:fs';

/**
 * Configuration layering shared by the agent and the collector: defaults → config file (JSON)
 * → environment (NODESEAL_*) → flags, later wins. Each program keeps its own option table,
 * defaults and cross-checks; this file reads the layers and coerces the value kinds both use.
 * Invalid values keep their default and add a problem; every problem is collected, none thrown.
 */

/** One option: config-file key, environment variable, flag (if any), value kind and bounds. */
export interface OptionSpec<K extends string = string, Kind extends string = string> {
  key: K;
  kind: Kind;
  env: string;
  flag?: string;
  min?: number;
  max?: number;
}

export interface ConfigLayerSources {
  /** Path of a JSON config file, or null. */
  file?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Flag values by flag name (as parsed by parseFlags; a repeated flag gives a list). */
  flags?: Record<string, string | string[] | boolean | undefined>;
}

/** The layer that set a value: 1 config file, 2 environment, 3 flags. */
export type ConfigLayer = 1 | 2 | 3;

/** Turns a raw value into the option's value, or pushes `${where}: problem` and returns undefined. */
export type Coerce<S extends OptionSpec> = (spec: S, raw: unknown, where: string, problems: string[]) => unknown;

/**
 * Applies the file, environment and flag layers onto `target` (which holds the defaults).
 * `otherFileKey` may claim file keys that are not options (sections owned elsewhere); any other
 * unknown key is a problem. Returns the layer that last set each option.
 */
export function applyConfigLayers<S extends OptionSpec>(
  specs: readonly S[],
  src: ConfigLayerSources,
  target: Record<string, unknown>,
  problems: string[],
  coerce: Coerce<S>,
  otherFileKey: (key: string, value: unknown) => boolean = () => false,
): Map<string, ConfigLayer> {
  const layers = new Map<string, ConfigLayer>();
  const apply = (spec: S, raw: unknown, where: string, at: ConfigLayer) => {
    const v = coerce(spec, raw, where, problems);
    if (v !== undefined) {
      target[spec.key] = v;
      layers.set(spec.key, at);
    }
  };
  const file = src.file ?? null;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      problems.push(`config file ${file}: ${(e as Error).message}`);
    }
    if (parsed !== undefined) {
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        problems.push(`config file ${file}: must be a JSON object`);
      else
        for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
          const spec = specs.find((s) => s.key === k);
          if (spec) apply(spec, v, `config file ${file}: ${k}`, 1);
          else if (!otherFileKey(k, v)) problems.push(`config file ${file}: unknown option ${JSON.stringify(k).slice(0, 60)}`);
        }
    }
  }
  const env = src.env ?? {};
  for (const spec of specs) if (env[spec.env] !== undefined) apply(spec, env[spec.env], `environment ${spec.env}`, 2);
  const flags = src.flags ?? {};
  for (const spec of specs) if (spec.flag && flags[spec.flag] !== undefined) apply(spec, flags[spec.flag], `--${spec.flag}`, 3);
  return layers;
}

/** The value kinds both programs use: non-empty string, string or null ('' = null), number, integer. */
export type ScalarKind = 'string' | 'nstring' | 'number' | 'int';

/** Coerces a scalar option (numbers may come as strings from the environment and flags; min/max apply). */
export function coerceScalar(spec: OptionSpec<string, ScalarKind>, raw: unknown, where: string, problems: string[]): unknown {
  const bad = (what: string) => {
    problems.push(`${where}: ${what}`);
    return undefined;
  };
  if (spec.kind === 'string') return typeof raw === 'string' && raw.length > 0 ? raw : bad('must be a non-empty string');
  if (spec.kind === 'nstring') return raw === null || raw === '' ? null : typeof raw === 'string' ? raw : bad('must be a string');
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n)))
    return bad(`must be ${spec.kind === 'int' ? 'an integer' : 'a number'}`);
  if (spec.min !== undefined && n < spec.min) return bad(`must be at least ${spec.min}`);
  if (spec.max !== undefined && n > spec.max) return bad(`must be at most ${spec.max}`);
  return n;
}

/** Every option's config-file key, environment variable and flag (docs and `config check` use it). */
export function optionTable(specs: readonly OptionSpec[]): ReadonlyArray<{ key: string; env: string; flag: string | null }> {
  return specs.map((s) => ({ key: s.key, env: s.env, flag: s.flag ?? null }));
}
