// The engine, in a Web Worker: holds one LanguageModel loaded from files the user picked and answers
// the explorer's requests as the server does (src/server/answers.ts and steps.ts are shared with it), so
// model.trace — synchronous, and seconds long on a big prompt — never blocks the page.
import { loadModelFromFiles } from '../../../src/models/load-files.js';
import type { LanguageModel } from '../../../src/models/model.js';
import { embeddingsAnswer, tokenizeAnswer } from '../../../src/server/answers.js';
import { traceSteps, type StepOptions } from '../../../src/server/steps.js';
import type { TraceOptions } from '../../../src/trace/schema.js';
import {
  backend,
  createWasmBackend,
  referenceBackend,
  setBackend,
  threadsUsable,
  WasmBackend,
} from '../../../src/tensor/index.js';
import { modelInfo } from '../../../src/trace/trace.js';
import { contextualSimilarity } from '../../../src/trace/contextual.js';
import type { EngineFile, EngineReply, EngineRequest, Kernels, LocalModelInfo } from './protocol.js';

interface WorkerScope {
  postMessage(m: EngineReply): void;
  addEventListener(type: 'message', f: (e: MessageEvent<EngineRequest>) => void): void;
}
const scope = self as unknown as WorkerScope;

let model: LanguageModel | null = null;
/** Generations being streamed; a 'cancel' removes one and it stops before its next token. */
const running = new Set<number>();

function need(): LanguageModel {
  if (!model) throw new Error('no model loaded in this page: use "Load model…"');
  return model;
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string') throw new Error(`invalid request: ${what} must be a string`);
  return x;
}

function call(path: string, body: unknown): unknown {
  const b = (body ?? {}) as Record<string, unknown>;
  switch (path) {
    case 'api/tokenize':
      return tokenizeAnswer(need(), str(b.text, 'text'));
    case 'api/trace':
      return need().trace(str(b.prompt, 'prompt'), (b.options ?? {}) as TraceOptions);
    case 'api/embeddings': {
      const words = b.words;
      if (!Array.isArray(words) || !words.every((w) => typeof w === 'string' && w.trim()))
        throw new Error('invalid request: words must be non-empty strings');
      return embeddingsAnswer(need(), words as string[]);
    }
    case 'api/contextual': {
      const sentences = b.sentences;
      if (!Array.isArray(sentences) || !sentences.every((x) => typeof x === 'string'))
        throw new Error('invalid request: sentences must be strings');
      // no word vectors in the page: the comparison has no static row
      return contextualSimilarity(need(), str(b.word, 'word'), sentences as string[], null);
    }
    case 'api/similarity':
      throw new Error(
        'the similarity panel needs an embedding model, which only the server runs (glasslm serve --embedder)',
      );
    default:
      throw new Error(`not found: ${path}`);
  }
}

async function generate(id: number, body: unknown): Promise<number> {
  const { prompt, ...o } = (body ?? {}) as StepOptions & { prompt: unknown };
  const steps = traceSteps(need(), str(prompt, 'prompt'), o);
  let n = 0;
  running.add(id);
  try {
    for await (const step of steps) {
      if (!running.has(id)) break;
      scope.postMessage({ id, kind: 'step', step });
      n++;
    }
  } finally {
    running.delete(id);
  }
  return n;
}

/**
 * The kernels for a new model: WebAssembly SIMD, else the reference kernels (no SIMD in this browser,
 * or the page was built without `npm run build:wasm`). In a cross-origin-isolated page (glasslm serve
 * sends the headers) the memory is shared and every core runs kernels (Web Workers); elsewhere — a page
 * opened from a file, a server without the headers — one thread and a plain memory, with about the
 * model's size reserved up front so that it rarely grows (the weight matrices re-create their views
 * when it does).
 */
async function kernelsFor(files: EngineFile[]): Promise<Kernels> {
  const isolated = threadsUsable();
  const threads = isolated ? Math.max(1, Math.min(16, navigator.hardwareConcurrency || 1)) : 1;
  const initialMiB = Math.min(4096, Math.ceil(f32Bytes(files) / 2 ** 20) + 64);
  // Threads first; if their workers cannot start (a policy that forbids blob: workers…), one thread;
  // else the reference kernels.
  const tries = [
    { threads, shared: isolated, initialMiB: isolated ? 64 : initialMiB },
    ...(threads > 1 ? [{ threads: 1, shared: false, initialMiB }] : []),
  ];
  for (const o of tries) {
    try {
      setBackend(await createWasmBackend(o));
      return { backend: 'wasm', threads: o.threads, isolated };
    } catch {
      // the next, simpler setting
    }
  }
  setBackend(referenceBackend);
  return { backend: 'reference', threads: 1, isolated };
}

async function load(req: EngineRequest & { kind: 'load' }): Promise<LocalModelInfo> {
  const t0 = performance.now();
  // The model in use stays (on its kernels) until the new one has loaded: a wrong file must not lose it.
  const before = backend();
  const kernels = await kernelsFor(req.files);
  try {
    model = await loadModelFromFiles(req.files);
  } catch (e) {
    const failed = backend();
    setBackend(before);
    if (failed instanceof WasmBackend) failed.close();
    throw e;
  }
  if (before instanceof WasmBackend) before.close(); // its worker threads
  return { info: modelInfo(model), ...kernels, loadMs: performance.now() - t0 };
}

/**
 * About how many bytes the weights take once loaded as f32 (the KV cache and scratch: the 64 MiB added
 * above): GGUF is often quantized (Q8_0 is ~3.8× smaller than f32), safetensors may be 16-bit, a
 * llama2.c checkpoint is f32. An estimate: the memory grows if it is short.
 */
function f32Bytes(files: EngineFile[]): number {
  let n = 0;
  for (const f of files) {
    const size = f instanceof Blob ? f.size : f.bytes instanceof Blob ? f.bytes.size : f.bytes.byteLength;
    const name = f.name.toLowerCase();
    n += size * (name.endsWith('.gguf') ? 4.5 : name.endsWith('.safetensors') ? 2.1 : 1.1);
  }
  return n;
}

async function handle(req: EngineRequest): Promise<void> {
  if (req.kind === 'cancel') {
    running.delete(req.target);
    return;
  }
  try {
    let result: unknown;
    if (req.kind === 'load') result = await load(req);
    else if (req.kind === 'generate') result = await generate(req.id, req.body);
    else result = call(req.path, req.body);
    scope.postMessage({ id: req.id, kind: 'result', result });
  } catch (e) {
    scope.postMessage({ id: req.id, kind: 'error', error: e instanceof Error ? e.message : String(e) });
  }
}

// Requests run in arrival order, one at a time (as the page sends them), except cancels, which act now.
let queue = Promise.resolve();
scope.addEventListener('message', (e) => {
  if (e.data.kind === 'cancel') void handle(e.data);
  else queue = queue.then(() => handle(e.data));
});
