// The browser's part of the wasm backend's thread pool: each pool thread is a Web Worker started from a
// Blob URL (so it works from a bundled, single-file page too), handed the module and the shared memory
// in its first message. Needs a cross-origin-isolated context (SharedArrayBuffer); index.ts checks.
import { workerScript, type PoolWorker, type SpawnWorker } from './pool.js';

const BROWSER_PRELUDE = `self.onmessage = (e) => {
  self.onmessage = null;
  start(e.data, () => self.postMessage('ready'));
};`;

let scriptUrl: string | undefined;

export const spawnWebWorker: SpawnWorker = (data) => {
  scriptUrl ??= URL.createObjectURL(new Blob([workerScript(BROWSER_PRELUDE)], { type: 'text/javascript' }));
  const w = new Worker(scriptUrl, { name: `glasslm kernels ${data.index}` });
  return new Promise<PoolWorker>((resolve, reject) => {
    w.onmessage = () => {
      w.onmessage = null;
      w.onerror = null;
      resolve({ terminate: () => w.terminate() });
    };
    w.onerror = (e) => {
      e.preventDefault();
      w.terminate();
      reject(new Error(e.message || 'the worker failed to start'));
    };
    w.postMessage(data);
  });
};
