#!/usr/bin/env node
// The glasslm command. The compiled CLI lives in dist/ (built by `npm install` / `npm run build`); in a
// clone where it is missing (e.g. installed with --ignore-scripts), it is built first, saying so.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/src/cli/main.js', import.meta.url);
const build = fileURLToPath(new URL('../scripts/build.mjs', import.meta.url));
if (!existsSync(fileURLToPath(main))) {
  if (!existsSync(build)) {
    console.error('glasslm: not built yet; run `npm run build` in the package folder.');
    process.exit(1);
  }
  console.error('glasslm: dist/ is not built yet; building it first (about a minute, once)');
  const r = spawnSync(process.execPath, [build], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) process.exit(r.status || 1);
}
await import(main.href);
