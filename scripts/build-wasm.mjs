#!/usr/bin/env node
// Compiles the AssemblyScript kernels (assembly/kernels.ts) to WebAssembly with 128-bit SIMD, four ways:
//   kernels.wasm                 imports a plain memory (browsers without cross-origin isolation)
//   kernels-shared.wasm          imports a shared memory (Node, isolated browsers; worker threads join it)
//   kernels[-shared]-relaxed.wasm  the same with relaxed SIMD (fused multiply-add: ASC_FEATURE_RELAXED_SIMD
//                                in the source), chosen at run time where the engine validates it
// and writes both beside the backend that loads them — src/tensor/wasm/ (run from source by tsx) and
// dist/src/tensor/wasm/ (the published build) — so `new URL('./kernels.wasm', import.meta.url)` finds
// them either way. Part of `npm run build` and `prepare`, so a fresh `npm ci` produces them; the .wasm
// files are build outputs, never committed.
import asc from 'assemblyscript/asc';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcOut = join(root, 'src/tensor/wasm');
const distOut = join(root, 'dist/src/tensor/wasm');
/** Largest memory the shared variant may grow to (wasm32: 65536 pages of 64 KiB = 4 GiB). */
const MAX_PAGES = 65536;

const common = [
  join(root, 'assembly/kernels.ts'),
  '--optimizeLevel',
  '3',
  '--shrinkLevel',
  '0',
  '--noAssert',
  '--runtime',
  'stub',
  '--enable',
  'simd',
  '--importMemory',
  '--noExportMemory',
  '--initialMemory',
  '1',
];

const shared = ['--enable', 'threads', '--sharedMemory', '--maximumMemory', String(MAX_PAGES)];
const relaxed = ['--enable', 'relaxed-simd'];
const variants = [
  { file: 'kernels.wasm', args: [] },
  { file: 'kernels-shared.wasm', args: shared },
  { file: 'kernels-relaxed.wasm', args: relaxed },
  { file: 'kernels-shared-relaxed.wasm', args: [...shared, ...relaxed] },
];

mkdirSync(srcOut, { recursive: true });
mkdirSync(distOut, { recursive: true });
for (const v of variants) {
  const out = join(srcOut, v.file);
  const { error, stderr } = await asc.main([...common, ...v.args, '--outFile', out]);
  if (error) {
    process.stderr.write(stderr.toString());
    console.error(`build-wasm: ${v.file}: ${error.message}`);
    process.exit(1);
  }
  copyFileSync(out, join(distOut, v.file));
}
console.log(`build-wasm: ${variants.map((v) => v.file).join(', ')} → src/tensor/wasm, dist/src/tensor/wasm`);
