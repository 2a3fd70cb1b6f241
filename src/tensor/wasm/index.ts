// Creating the WebAssembly SIMD backend, in Node or a browser, from the same code:
//   const wasm = await createWasmBackend({ threads: 2 });  setBackend(wasm);  …load a model…
// The compiled kernels sit beside this file (kernels.wasm, kernels-shared.wasm; `npm run build` makes
// them). Browsers fetch them (`new URL('./kernels.wasm', import.meta.url)` is what bundlers recognise);
// Node reads them from disk and starts worker threads through the small adapter in node.ts, the only
// Node-specific part.
import { WasmBackend, type ThreadPool } from './backend.js';

export { WasmBackend } from './backend.js';
export type { KernelExports, ThreadPool, WasmStats } from './backend.js';

export interface WasmBackendOptions {
  /**
   * Threads for matmul and attention, the caller's included (Node: worker_threads over a shared
   * memory). Default 1.
   */
  threads?: number;
  /**
   * Use a shared memory (default: wherever SharedArrayBuffer is usable — Node, cross-origin-isolated
   * pages). Needed for threads; also keeps views valid when the memory grows.
   */
  shared?: boolean;
  /** Memory reserved at start, MiB (default 16). With a plain memory, reserve the model's size here. */
  initialMiB?: number;
  /** Largest the memory may grow to, MiB (default and most: 4096). */
  maximumMiB?: number;
  /**
   * With threads: how long an idle thread polls for work before sleeping, ms (default 0.2). Waking a
   * sleeping thread costs ~0.1–0.3 ms; polling longer helps a quiet machine and hurts a busy one.
   */
  spinMs?: number;
  /** The compiled kernels, if you load them yourself (a module or the .wasm bytes). */
  module?: WebAssembly.Module | BufferSource;
}

const PAGE = 65536;
const MAX_PAGES = 65536;

function sharedUsable(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const g = globalThis as { crossOriginIsolated?: boolean };
  return g.crossOriginIsolated ?? true; // undefined outside browsers (Node)
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** The kernels for a shared or a plain memory: compiled from the file beside this module. */
async function compileKernels(shared: boolean): Promise<WebAssembly.Module> {
  const url = shared
    ? new URL('./kernels-shared.wasm', import.meta.url)
    : new URL('./kernels.wasm', import.meta.url);
  if (url.protocol === 'file:') {
    const { readKernels } = await import('./node.js');
    return WebAssembly.compile(await readKernels(url));
  }
  const res = fetch(url);
  if (typeof WebAssembly.compileStreaming === 'function') {
    try {
      return await WebAssembly.compileStreaming(res);
    } catch {
      // a server that does not say application/wasm: fall back to bytes
    }
  }
  const r = await res;
  if (!r.ok) throw new Error(`wasm backend: could not fetch ${url.href} (${r.status})`);
  return WebAssembly.compile(await r.arrayBuffer());
}

export async function createWasmBackend(options: WasmBackendOptions = {}): Promise<WasmBackend> {
  const threads = Math.max(1, Math.floor(options.threads ?? 1));
  const shared = options.shared ?? sharedUsable();
  if (threads > 1 && !shared)
    throw new Error('wasm backend: threads need a shared memory (SharedArrayBuffer)');
  const maxPages = Math.min(MAX_PAGES, Math.ceil(((options.maximumMiB ?? 4096) * 2 ** 20) / PAGE));
  const initial = Math.min(maxPages, Math.ceil(((options.initialMiB ?? 16) * 2 ** 20) / PAGE));
  let module: WebAssembly.Module;
  if (options.module instanceof WebAssembly.Module) module = options.module;
  else if (options.module) module = await WebAssembly.compile(options.module);
  else module = await compileKernels(shared);
  const memory = shared
    ? new WebAssembly.Memory({ initial, maximum: maxPages, shared: true })
    : new WebAssembly.Memory({ initial, maximum: maxPages });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  let pool: ThreadPool | undefined;
  if (threads > 1) {
    if (!isNode()) throw new Error('wasm backend: threads are only implemented for Node so far');
    const { startThreadPool } = await import('./node.js');
    pool = await startThreadPool(threads, module, memory, instance, options.spinMs ?? 0.2);
  }
  return new WasmBackend({ instance, memory, maxPages, pool });
}
