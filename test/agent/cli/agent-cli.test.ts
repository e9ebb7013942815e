import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import verb from '../../../agent/src/cli/agent.js';
import { resolveAgentConfig } from '../../../agent/src/config.js';
import { captureIo } from '../../helpers/cli.js';

describe('nodeseal agent: start-up mistakes are coded user errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-agent-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const base = () => ['--collector', 'ws://127.0.0.1:9', '--tcti', 'none', '--state-dir', join(dir, 'state')];

  it('refuses a --ca file that does not exist with ERR_CONFIG, naming the flag', async () => {
    await expect(verb.run([...base(), '--ca', join(dir, 'missing.pem')], captureIo())).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('cannot read --ca'),
    });
  });

  it('refuses a directory given as --ca with ERR_CONFIG', async () => {
    await expect(verb.run([...base(), '--ca', dir], captureIo())).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('EISDIR'),
    });
  });

  it('refuses a negative --interval with the configuration range, not a parser error', async () => {
    await expect(verb.run([...base(), '--interval', '-5'], captureIo())).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('--interval'),
    });
  });

  it('refuses an explicit --event-log that does not exist or is not a file, listed with the other problems', async () => {
    const missing = join(dir, 'no-such-log');
    const err = await verb.run([...base(), '--event-log', missing, '--interval', '-5'], captureIo()).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining(`event log ${missing} (--event-log) does not exist`),
    });
    expect((err as Error).message).toContain('--interval');
    await expect(verb.run([...base(), '--event-log', dir], captureIo())).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('is not a file'),
    });
    // Without --event-log the default path is not required (the evidence reports the log unavailable).
    const { problems } = resolveAgentConfig({ flags: { collector: 'ws://127.0.0.1:9', tcti: 'none' } });
    expect(problems).toEqual([]);
  });

  it('refuses a --root that is not a recorded host directory with ERR_CONFIG', async () => {
    await expect(verb.run([...base(), '--root', join(dir, 'no-such-host')], captureIo())).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('is not a directory'),
    });
  });

  it('takes several collectors: the flag repeated or comma-separated, the environment comma-separated, the file a list or one string', async () => {
    const urls = (src: Parameters<typeof resolveAgentConfig>[0]) => resolveAgentConfig(src).config.collector;
    expect(urls({ flags: { collector: ['ws://127.0.0.1:1', 'ws://127.0.0.1:2,ws://127.0.0.1:3'], tcti: 'none' } })).toEqual([
      'ws://127.0.0.1:1',
      'ws://127.0.0.1:2',
      'ws://127.0.0.1:3',
    ]);
    expect(urls({ env: { NODESEAL_COLLECTOR: 'ws://127.0.0.1:1, ws://127.0.0.1:1 ,ws://localhost:2' }, flags: { tcti: 'none' } })).toEqual([
      'ws://127.0.0.1:1',
      'ws://localhost:2',
    ]);
    const list = join(dir, 'list.json');
    const one = join(dir, 'one.json');
    await writeFile(list, JSON.stringify({ collector: ['wss://c1.example:8443', 'wss://c2.example:8443'], tcti: 'none' }));
    await writeFile(one, JSON.stringify({ collector: 'wss://c1.example:8443', tcti: 'none' }));
    expect(urls({ file: list })).toEqual(['wss://c1.example:8443', 'wss://c2.example:8443']);
    expect(urls({ file: one })).toEqual(['wss://c1.example:8443']);
  });

  it('validates every collector URL at start, one line naming the bad one', () => {
    const { problems } = resolveAgentConfig({
      flags: { collector: 'wss://c1.example:8443,ws://c2.example:8443,wss://c3.example/v1/agent', tcti: 'none' },
    });
    expect(problems).toEqual([
      'collector URL "ws://c2.example:8443" (2 of 3) uses plain ws://, which is only allowed to a loopback collector; use wss://',
      'collector URL "wss://c3.example/v1/agent" (3 of 3) must be the base URL (the agent adds /v1/agent)',
    ]);
    expect(resolveAgentConfig({ flags: { collector: ' , ', tcti: 'none' } }).problems).toEqual([
      '--collector: must name at least one collector URL',
      expect.stringMatching(/--collector is required/),
    ]);
  });
});
