import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { commandBaseName } from '../../agent/src/ports/recorded-names.js';

/**
 * Recorded hosts for tests (test/fixtures/hosts/<name>, format in docs/ARCHITECTURE.md
 * "Inventory sources"). Copy one, edit it, and collect from it with `--root DIR` or
 * `createHostPorts({ root: DIR })`: every collection re-reads the files.
 */
export const HOSTS_DIR = resolve(import.meta.dirname, '../fixtures/hosts');

/** The recorded `nvidia-smi -q -x` output file of a host root. */
export function nvidiaSmiFile(root: string): string {
  return join(root, 'commands', `${commandBaseName(['nvidia-smi', '-q', '-x'])}.stdout`);
}

/** Copy fixture host `name` into a fresh temporary directory and return its path. */
export async function copyHost(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `nodeseal-host-${name}-`));
  await cp(join(HOSTS_DIR, name), dir, { recursive: true });
  return dir;
}

/** Remove a directory made by copyHost. */
export async function removeHost(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

const ELEMENT = { vbios: 'vbios_version', serial: 'serial' } as const;

/**
 * Set the VBIOS version or board serial of the GPU at `gpuIndex` (its position in the file) in
 * the host's recorded nvidia-smi XML. Throws if the GPU or the element is not there.
 */
export async function setGpuField(root: string, gpuIndex: number, field: 'vbios' | 'serial', value: string): Promise<void> {
  const file = nvidiaSmiFile(root);
  const xml = await readFile(file, 'utf8');
  const starts = [...xml.matchAll(/<gpu id="[^"]*">/g)].map((m) => m.index!);
  const start = starts[gpuIndex];
  if (start === undefined) throw new Error(`setGpuField: no GPU ${gpuIndex} in ${file} (it has ${starts.length})`);
  const end = starts[gpuIndex + 1] ?? xml.length;
  const tag = ELEMENT[field];
  const block = xml.slice(start, end);
  const re = new RegExp(`(\\n\\s*<${tag}>)[^<]*(</${tag}>)`);
  if (!re.test(block)) throw new Error(`setGpuField: GPU ${gpuIndex} has no <${tag}>`);
  const escaped = value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  await writeFile(file, xml.slice(0, start) + block.replace(re, (_m, a: string, b: string) => `${a}${escaped}${b}`) + xml.slice(end));
}
