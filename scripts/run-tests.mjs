#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in test runner (tsx loads TypeScript).
// Node 20's --test does not expand globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

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
// Files at a time: one per core, at least two (many tests wait on child processes and servers).
const concurrency = Math.max(2, availableParallelism());
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files],
  {
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
