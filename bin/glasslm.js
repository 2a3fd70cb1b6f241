#!/usr/bin/env node
// The glasslm command. The compiled CLI lives in dist/ (built by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('glasslm: not built yet; run `npm run build` in the package folder.');
  process.exit(1);
}
await import(main.href);
