// The engine running in this page: a client for the worker (worker.ts), with the calls api.ts makes of
// the server — the same paths and bodies, answered over postMessage instead of HTTP.
import type { TraceModelInfo, TraceStep } from '../../../src/trace/schema.js';
import type { CallPath, EngineFile, EngineReply, EngineRequest, LocalModelInfo } from './protocol.js';
// Vite bundles the worker and inlines it into the page (a Blob URL at run time), so it starts from a
// page opened as a file:// URL too, where a worker script beside the page could not be loaded.
import EngineWorker from './worker.ts?worker&inline';

/** A request before it gets its id (Omit over each member of the union). */
type Unsent = EngineRequest extends infer R ? (R extends EngineRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  onStep?: (step: TraceStep, index: number) => void;
  steps: number;
}

export class LocalEngine {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  /** The loaded model, once load() has succeeded. */
  loaded: LocalModelInfo | null = null;

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new EngineWorker();
    w.addEventListener('message', (e: MessageEvent<EngineReply>) => this.receive(e.data));
    w.addEventListener('error', (e: ErrorEvent) => {
      // The worker died (it could not start, or ran out of memory): fail what waits, start anew next time.
      e.preventDefault();
      this.fail(new Error(`the in-browser engine stopped: ${e.message || 'worker error'}`));
    });
    this.worker = w;
    return w;
  }

  private fail(err: Error): void {
    this.worker?.terminate();
    this.worker = null;
    this.loaded = null;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private receive(m: EngineReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === 'step') {
      p.onStep?.(m.step, p.steps++);
      return;
    }
    this.pending.delete(m.id);
    if (m.kind === 'error') p.reject(new Error(m.error));
    else p.resolve(m.result);
  }

  private send<T>(req: Unsent, onStep?: Pending['onStep'], signal?: AbortSignal): Promise<T> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onStep, steps: 0 });
      signal?.addEventListener(
        'abort',
        () => w.postMessage({ id: this.nextId++, kind: 'cancel', target: id }),
        {
          once: true,
        },
      );
      w.postMessage({ ...req, id } as EngineRequest);
    });
  }

  /** Loads a model from the files picked (a .gguf; a llama2.c .bin + its tokenizer; an HF folder's files). */
  async load(files: EngineFile[]): Promise<LocalModelInfo> {
    const r = await this.send<LocalModelInfo>({ kind: 'load', files });
    this.loaded = r;
    return r;
  }

  get info(): TraceModelInfo | null {
    return this.loaded?.info ?? null;
  }

  /** A request the server answers at `path` (api/tokenize, api/trace, api/embeddings). */
  call<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>({ kind: 'call', path: path as CallPath, body });
  }

  /** As POST /api/generate: each TraceStep as it is made; resolves with how many were made. */
  generate(
    body: unknown,
    onStep: (step: TraceStep, index: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    return this.send<number>({ kind: 'generate', body }, onStep, signal);
  }
}

/** The page's one in-browser engine (its worker starts on the first model load). */
export const local = new LocalEngine();
