// Creating the WebAssembly SIMD backend, in Node or a browser, from the same code:
//   const wasm = await createWasmBackend({ threads: 2 });  setBackend(wasm);  …load a model…
// The compiled kernels sit beside this file (kernels.wasm, kernels-shared.wasm; `npm run build` makes
// them). Browsers fetch them (`new URL('./kernels.wasm', import.meta.url)` is what bundlers recognise);
// Node reads them from disk. Threads: the pool in pool.ts, whose workers are worker_threads in Node
// (node.ts, the only Node-specific part) and Web Workers in browsers (browser.ts) — the latter only in
// a cross-origin-isolated page, the one place a browser allows a SharedArrayBuffer.
import { WasmBackend } from './backend.js';
import type { ThreadPool } from './exports.js';
import { spawnWebWorker } from './browser.js';
import { startThreadPool } from './pool.js';
import { threadCount } from './threads.js';

export { WasmBackend } from './backend.js';
export type { KernelExports, ThreadPool } from './exports.js';
export type { WasmStats } from './staging.js';

export interface WasmBackendOptions {
  /**
   * Threads for matmul and attention, the caller's included (worker_threads in Node, Web Workers in a
   * browser, over a shared memory). Default 1.
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
  /**
   * Use the relaxed-SIMD build of the kernels (fused multiply-add: prefill ~1.5–2x faster) where the
   * engine has relaxed SIMD. Default: yes where WebAssembly.validate accepts it; in Node 20, where it sits
   * behind a V8 flag, the flag is turned on first (v8.setFlagsFromString). false: plain SIMD128.
   */
  relaxedSimd?: boolean;
  /**
   * With threads: how long the caller waits for a late worker (one the OS has descheduled) before it
   * computes that worker's chunks of a matmul itself, ms. Default: twice the caller's own time
   * per chunk of that call, at least 0.02. 0: at once.
   */
  takeOverMs?: number;
  /**
   * With threads: let the caller take over a late worker's matmul chunks (pool.ts). Default on; false:
   * the caller always waits for every worker (to measure what the take-over saves).
   */
  takeOver?: boolean;
  /**
   * With threads: run each kind of matmul on the pool or on the calling thread alone, whichever measures
   * faster now (adaptive.ts: with another process busy on a core, two threads can be slower than one).
   * Default on; false: every matmul big enough goes to the pool.
   */
  adaptiveThreads?: boolean;
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

/**
 * Whether this thread may sleep in Atomics.wait: everywhere but a browser page's main thread (a
 * window), where it throws.
 */
function mayWait(): boolean {
  const g = globalThis as { window?: unknown; document?: unknown };
  return isNode() || (g.window === undefined && g.document === undefined);
}

/** Whether threads can run here: a shared memory is possible (SharedArrayBuffer, cross-origin isolated). */
export function threadsUsable(): boolean {
  return sharedUsable();
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/**
 * The smallest module that uses relaxed SIMD: one function returning f32x4.relaxed_madd of three
 * v128.const zeros. Engines without the feature reject it.
 */
// prettier-ignore
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
  0x03, 0x02, 0x01, 0x00, // functions: one of type 0
  0x0a, 0x3d, 0x01, 0x3b, 0x00, // code: one body of 59 bytes, no locals
  ...[0, 1, 2].flatMap(() => [0xfd, 0x0c, ...new Array<number>(16).fill(0)]), // v128.const 0 (×3)
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd
  0x0b, // end
]);

/** Whether this engine runs relaxed SIMD (in Node 20, after turning its V8 flag on). */
export async function relaxedSimdAvailable(): Promise<boolean> {
  if (WebAssembly.validate(RELAXED_PROBE)) return true;
  if (!isNode()) return false;
  const { enableRelaxedSimd } = await import('./node.js');
  enableRelaxedSimd();
  return WebAssembly.validate(RELAXED_PROBE);
}

/** The kernels for a shared or a plain memory, with or without relaxed SIMD: the file beside this module. */
async function compileKernels(shared: boolean, relaxed: boolean): Promise<WebAssembly.Module> {
  // four literal URLs, so that bundlers (Vite) see and copy every file
  const url = shared
    ? relaxed
      ? new URL('./kernels-shared-relaxed.wasm', import.meta.url)
      : new URL('./kernels-shared.wasm', import.meta.url)
    : relaxed
      ? new URL('./kernels-relaxed.wasm', import.meta.url)
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
  const threads = threadCount(options.threads ?? 1, Infinity);
  const shared = options.shared ?? sharedUsable();
  if (threads > 1 && !shared)
    throw new Error(
      isNode() || typeof SharedArrayBuffer !== 'undefined'
        ? 'wasm backend: threads need a shared memory (shared: true)'
        : 'wasm backend: threads need SharedArrayBuffer, which a browser gives only to a cross-origin-isolated page (served with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    );
  const maxPages = Math.min(MAX_PAGES, Math.ceil(((options.maximumMiB ?? 4096) * 2 ** 20) / PAGE));
  const initial = Math.min(maxPages, Math.ceil(((options.initialMiB ?? 16) * 2 ** 20) / PAGE));
  let module: WebAssembly.Module;
  let relaxed = false;
  if (options.module instanceof WebAssembly.Module) module = options.module;
  else if (options.module) module = await WebAssembly.compile(options.module);
  else {
    relaxed = options.relaxedSimd !== false && (await relaxedSimdAvailable());
    module = await compileKernels(shared, relaxed);
  }
  const memory = shared
    ? new WebAssembly.Memory({ initial, maximum: maxPages, shared: true })
    : new WebAssembly.Memory({ initial, maximum: maxPages });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  let pool: ThreadPool | undefined;
  if (threads > 1) {
    const spawn = isNode() ? (await import('./node.js')).spawnNodeWorker : spawnWebWorker;
    pool = await startThreadPool({
      threads,
      module,
      memory,
      instance,
      spinMs: options.spinMs ?? 0.2,
      spawn,
      callerMayWait: mayWait(),
      takeOverMs: options.takeOverMs,
    });
  }
  const be = new WasmBackend({ instance, memory, maxPages, pool, relaxedSimd: relaxed });
  be.takeOver = options.takeOver ?? true;
  if (options.adaptiveThreads === false) be.chooser = null;
  return be;
}
