#!/usr/bin/env node
// Builds a self-contained release folder runnable with the host's Node 20 (no npm install on
// the node): the `nodeseal` command bundled by esbuild (ESM, code-split so `nodeseal inventory`
// never loads the collector's database drivers), the dashboard's static files, and the native
// modules it needs (better-sqlite3, koffi) with their runtime dependencies.
//
//   node scripts/release.mjs [OUTDIR]      (default: release/)
//
// Layout: OUTDIR/nodeseal.mjs (entry), OUTDIR/*.mjs (chunks), OUTDIR/index.html, style.css,
// client.js (dashboard), OUTDIR/node_modules/{better-sqlite3,bindings,file-uri-to-path,koffi,
// @koromix/*}, OUTDIR/bin/nodeseal (shell wrapper), OUTDIR/VERSION.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(repo, 'release'));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// Native or optional modules stay outside the bundle; the native ones are copied below.
const external = ['better-sqlite3', 'koffi', 'esbuild', 'pg-native', 'bufferutil', 'utf-8-validate'];

await build({
  absWorkingDir: repo,
  entryPoints: { nodeseal: 'bin/nodeseal.ts' },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  chunkNames: '[name]-[hash]',
  external,
  // CommonJS dependencies call require(); give ES module chunks one.
  banner: {
    js: "import { createRequire as __nodesealCreateRequire } from 'node:module'; const require = __nodesealCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  logLevel: 'warning',
});

// Dashboard: the bundled chunks resolve its files next to themselves (collector/src/dashboard/assets.ts).
const dash = join(repo, 'collector/src/dashboard');
if (existsSync(join(dash, 'client/main.ts'))) {
  await build({
    absWorkingDir: repo,
    entryPoints: [join(dash, 'client/main.ts')],
    outfile: join(out, 'client.js'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) cpSync(join(dash, f), join(out, f));
}

// Native modules and their runtime dependencies (sources, build intermediates and tests left out).
const nm = join(repo, 'node_modules');
const copyModule = (name, filter = () => true) => {
  const src = join(nm, name);
  if (!existsSync(src)) throw new Error(`release: node_modules/${name} is missing; run npm install`);
  cpSync(src, join(out, 'node_modules', name), { recursive: true, filter: (p) => filter(p.slice(src.length)) });
};
copyModule('better-sqlite3', (rel) =>
  /^(|\/package\.json|\/LICENSE|\/lib(\/.*)?|\/build|\/build\/Release|\/build\/Release\/better_sqlite3\.node)$/.test(rel),
);
copyModule('bindings');
copyModule('file-uri-to-path');
copyModule('koffi', (rel) => !/^\/(doc|vendor)(\/|$)|\.(cc|hh|c|h|S|asm|txt)$/.test(rel));
for (const p of existsSync(join(nm, '@koromix')) ? readdirSync(join(nm, '@koromix')) : []) copyModule(`@koromix/${p}`);

// Installers, unit templates and the configuration reference travel with the release.
mkdirSync(join(out, 'scripts'));
for (const f of ['install-agent.sh', 'install-collector.sh'])
  if (existsSync(join(repo, 'scripts', f))) cpSync(join(repo, 'scripts', f), join(out, 'scripts', f));
cpSync(join(repo, 'scripts/systemd'), join(out, 'scripts/systemd'), { recursive: true });
if (existsSync(join(repo, 'docs/configuration.md'))) cpSync(join(repo, 'docs/configuration.md'), join(out, 'docs/configuration.md'));
mkdirSync(join(out, 'bin'));
writeFileSync(
  join(out, 'bin/nodeseal'),
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell script's ${NODE:-node}
  '#!/bin/sh\n# nodeseal release wrapper: runs the bundled CLI with the node on PATH (Node 20 or later).\nhere=$(dirname "$(readlink -f "$0")")\nexec "${NODE:-node}" "$here/../nodeseal.mjs" "$@"\n',
);
chmodSync(join(out, 'bin/nodeseal'), 0o755);
writeFileSync(join(out, 'VERSION'), `${pkg.version}\n`);
writeFileSync(
  join(out, 'package.json'),
  `${JSON.stringify({ name: 'nodeseal-release', version: pkg.version, private: true, type: 'module' }, null, 2)}\n`,
);
process.stdout.write(`release: ${out} (nodeseal ${pkg.version})\n`);
