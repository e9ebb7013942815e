import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * The collector's (and agent's) one structured logger. Redacts anything that could carry a
 * secret or raw evidence even if a caller logs a whole object by mistake.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  'jws',
  '*.jws',
  'jwk.d',
  '*.jwk.d',
  'privateJwk',
  '*.privateJwk',
  'enrollToken',
  '*.enrollToken',
  'eventLog',
  '*.eventLog',
];

export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: opts.name ? { name: opts.name } : {},
  };
  return opts.destination ? pino(options, opts.destination as unknown as pino.DestinationStream) : pino(options);
}

/** A logger that writes nothing (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
