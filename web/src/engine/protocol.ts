// Messages between the page (local.ts) and the engine worker (worker.ts): the same requests the server
// answers over HTTP (src/server/app.ts), by the same paths, so api.ts can send either way.
import type { TraceModelInfo, TraceStep } from '../../../src/trace/schema.js';

/** One file handed to the worker: a File from an input (a Blob, read lazily there) or bytes. */
export type EngineFile = File | { name: string; bytes: ArrayBuffer | Uint8Array | Blob };

/** Which kernels run the model in the page. */
export interface Kernels {
  /** 'wasm' (WebAssembly SIMD) or 'reference' (plain TypeScript). */
  backend: 'wasm' | 'reference';
  /** Threads running kernels (Web Workers over a shared memory); 1 unless the page is isolated. */
  threads: number;
  /** Whether the page is cross-origin isolated (SharedArrayBuffer usable, so threads possible). */
  isolated: boolean;
}

/** What the worker says about the loaded model. */
export interface LocalModelInfo extends Kernels {
  info: TraceModelInfo;
  /** Milliseconds to parse the files and build the network. */
  loadMs: number;
}

export type CallPath = 'api/tokenize' | 'api/trace' | 'api/embeddings' | 'api/similarity';

export type EngineRequest =
  | { id: number; kind: 'load'; files: EngineFile[] }
  | { id: number; kind: 'call'; path: CallPath; body: unknown }
  | { id: number; kind: 'generate'; body: unknown }
  | { id: number; kind: 'cancel'; target: number };

export type EngineReply =
  | { id: number; kind: 'result'; result: unknown }
  | { id: number; kind: 'error'; error: string }
  /** One generated token of a 'generate' request (then a 'result' with the count). */
  | { id: number; kind: 'step'; step: TraceStep };
