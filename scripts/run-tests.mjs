#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in test runner (tsx loads TypeScript).
// Node 20's --test does not expand globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'out' && name !== 'node_modules') out.push(...find(p));
    } else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test');
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
