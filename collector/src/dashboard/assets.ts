import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The page's static parts. In a build (dist/), scripts/build-assets.mjs has bundled
 * client/main.ts into client.js beside this module and copied index.html and style.css.
 * Running from source (tsx, tests), the client is bundled once, in memory, with esbuild
 * (a dev dependency) on first use.
 */
export interface DashboardAssets {
  html: string;
  css: string;
  js: string;
}

const here = dirname(fileURLToPath(import.meta.url));
let cached: Promise<DashboardAssets> | null = null;

async function bundleFromSource(): Promise<string> {
  const entry = join(here, 'client', 'main.ts');
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    minify: false,
    sourcemap: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

export function loadAssets(): Promise<DashboardAssets> {
  cached ??= (async () => {
    const built = join(here, 'client.js');
    const js = existsSync(built) ? readFileSync(built, 'utf8') : await bundleFromSource();
    return { html: readFileSync(join(here, 'index.html'), 'utf8'), css: readFileSync(join(here, 'style.css'), 'utf8'), js };
  })();
  cached.catch(() => (cached = null));
  return cached;
}
