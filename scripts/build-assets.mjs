// Post-tsc build step: copies non-TypeScript assets (dashboard static files, SQL migrations,
// systemd units) into dist/ and marks the CLI executable.
import { chmodSync, cpSync, existsSync } from 'node:fs';

const assets = [
  // [source, destination] pairs are added as features land.
  ['scripts/slurm', 'dist/scripts/slurm'],
  ['scripts/k8s', 'dist/scripts/k8s'],
];
for (const [src, dst] of assets) if (existsSync(src)) cpSync(src, dst, { recursive: true });
if (existsSync('dist/bin/nodeseal.js')) chmodSync('dist/bin/nodeseal.js', 0o755);
