// Post-tsc build step: copies non-TypeScript assets (dashboard static files, SQL migrations,
// systemd units) into dist/ and marks the CLI executable.
import { chmodSync, cpSync, existsSync } from 'node:fs';

const assets = [
  // [source, destination] pairs are added as features land.
  ['scripts/slurm', 'dist/scripts/slurm'],
  ['scripts/k8s', 'dist/scripts/k8s'],
  ['collector/src/dashboard/index.html', 'dist/collector/src/dashboard/index.html'],
  ['collector/src/dashboard/style.css', 'dist/collector/src/dashboard/style.css'],
];
for (const [src, dst] of assets) if (existsSync(src)) cpSync(src, dst, { recursive: true });
// The dashboard's browser code: one ES module bundle beside dashboard/assets.js (no runtime bundling).
const esbuild = await import('esbuild');
await esbuild.build({
  entryPoints: ['collector/src/dashboard/client/main.ts'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  outfile: 'dist/collector/src/dashboard/client.js',
  logLevel: 'warning',
});
if (existsSync('dist/bin/nodeseal.js')) chmodSync('dist/bin/nodeseal.js', 0o755);
