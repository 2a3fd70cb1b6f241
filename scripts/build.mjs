#!/usr/bin/env node
// `npm run build` and `prepare` (run by `npm install`): the WebAssembly kernels, the TypeScript → dist/,
// and the explorer page → web/dist, one step at a time with a line on stderr for each (the first build takes
// about a minute on two cores; nobody should wait in silence). With --if-stale (prepare), nothing is rebuilt
// when the last build is newer than every input, so a second `npm install` costs no minute.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = join(root, 'dist/.build-stamp');
const INPUT_DIRS = ['src', 'test', 'bench', 'scripts', 'assembly', 'web/src'];
// Not package.json / package-lock.json: `npm install` rewrites the lock file before it runs prepare.
const INPUT_FILES = ['tsconfig.json', 'web/tsconfig.json', 'web/vite.config.mjs', 'web/index.html'];
const OUTPUTS = [
  'dist/src/cli/main.js',
  'dist/src/tensor/wasm/kernels-shared-relaxed.wasm',
  'src/tensor/wasm/kernels.wasm',
  'web/dist/index.html',
];

/** The newest modification time among the build's inputs (sources; not the outputs beside them). */
function newestInput() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'out' && e.name !== 'dist') walk(p);
      } else if (!e.name.endsWith('.wasm')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of INPUT_DIRS) if (existsSync(join(root, d))) walk(join(root, d));
  for (const f of INPUT_FILES)
    if (existsSync(join(root, f))) newest = Math.max(newest, statSync(join(root, f)).mtimeMs);
  return newest;
}

function isCurrent() {
  if (!existsSync(STAMP) || OUTPUTS.some((f) => !existsSync(join(root, f)))) return false;
  return statSync(STAMP).mtimeMs >= newestInput();
}

if (process.argv.includes('--if-stale') && isCurrent()) {
  process.stderr.write('glasslm: dist/ and web/dist are up to date with the sources; nothing to build\n');
  process.exit(0);
}

const require = createRequire(import.meta.url);
const bin = (pkg, file) => join(dirname(require.resolve(`${pkg}/package.json`)), file);
const steps = [
  ['WebAssembly kernels (assembly/kernels.ts)', [join(root, 'scripts/build-wasm.mjs')]],
  ['TypeScript → dist/', [bin('typescript', 'bin/tsc'), '-p', join(root, 'tsconfig.json')]],
  ['explorer page: type check', [bin('typescript', 'bin/tsc'), '-p', join(root, 'web/tsconfig.json')]],
  [
    'explorer page → web/dist',
    [
      bin('vite', 'bin/vite.js'),
      'build',
      '--logLevel',
      'warn',
      '--config',
      join(root, 'web/vite.config.mjs'),
    ],
  ],
];
const t0 = Date.now();
process.stderr.write(`glasslm: building (${steps.length} steps, about a minute the first time)\n`);
for (const [i, [what, args]] of steps.entries()) {
  const t = Date.now();
  process.stderr.write(`glasslm: build ${i + 1}/${steps.length}: ${what}…\n`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    process.stderr.write(`glasslm: build step "${what}" failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status || 1);
  }
  process.stderr.write(
    `glasslm: build ${i + 1}/${steps.length}: done in ${((Date.now() - t) / 1000).toFixed(1)} s\n`,
  );
}
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
process.stderr.write(`glasslm: built in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
