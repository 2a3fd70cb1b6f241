// The Node-only part of the wasm backend: reading the compiled kernels from disk, turning on relaxed
// SIMD, and starting the thread pool's workers as worker_threads (the pool itself is pool.ts).
import { readFile } from 'node:fs/promises';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { workerScript, type PoolWorker, type SpawnWorker } from './pool.js';

/**
 * Turns on V8's relaxed SIMD (behind --experimental-wasm-relaxed-simd in Node 20; on by default from
 * Node 22). Process-wide, so worker threads have it too; modules compiled before keep what they had.
 */
export function enableRelaxedSimd(): void {
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

export async function readKernels(url: URL): Promise<ArrayBuffer> {
  try {
    const b = await readFile(url);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  } catch (e) {
    throw new Error(
      `wasm backend: cannot read ${url.pathname} (${(e as Error).message}); run \`npm run build\` to compile the kernels`,
      { cause: e },
    );
  }
}

/** Node's worker: the pool's script, started on workerData; a worker_threads thread per pool thread. */
const NODE_PRELUDE = `const { workerData, parentPort } = require('node:worker_threads');
start(workerData, () => parentPort.postMessage('ready'));`;

export const spawnNodeWorker: SpawnWorker = (data) => {
  const w = new Worker(workerScript(NODE_PRELUDE), { eval: true, workerData: data });
  return new Promise<PoolWorker>((resolve, reject) => {
    w.once('message', () => {
      w.unref();
      resolve({ terminate: () => void w.terminate() });
    });
    w.once('error', reject);
  });
};
