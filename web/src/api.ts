// The server's JSON API (src/server/app.ts), from the page — or the same requests answered by the engine
// running in this page (engine/local.ts: a Web Worker holding a model the user loaded with "Load model…").
// Neither (a file:// page, a static host, no model loaded): calls fail with a clear message and the page
// only views loaded traces.
import type { Trace, TraceModelInfo, TraceOptions, TraceStep, TraceToken } from '../../src/trace/schema.js';
import { local } from './engine/local.js';
import type { EngineFile, LocalModelInfo } from './engine/protocol.js';
import type {
  ContextualComparison,
  EmbedderInfo,
  SimilarityExplanation,
  WordVector,
  WordVectorsInfo,
} from './state.js';

export const hasServer = location.protocol === 'http:' || location.protocol === 'https:';

// A server started off loopback wants an API key (`glasslm serve --api-key`); it prints the page's address
// with `#key=...`. The key is kept for this tab only and taken out of the address bar; the fragment never
// reaches the server, the Authorization header on each API call does.
const KEY_ITEM = 'glasslm-api-key';
const hashKey = new URLSearchParams(location.hash.slice(1)).get('key');
if (hashKey) {
  sessionStorage.setItem(KEY_ITEM, hashKey);
  history.replaceState(null, '', location.pathname + location.search);
}

/** fetch() for the server's API, with the API key when the page was given one. */
function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  const key = sessionStorage.getItem(KEY_ITEM);
  const headers = new Headers(init.headers);
  if (key) headers.set('authorization', `Bearer ${key}`);
  return fetch(path, { ...init, headers });
}

let current: 'server' | 'local' | null = null;
/** Which engine answers: the server, the engine in this page (after loadModelFiles), or none yet. */
export const engine = () => current;

/** Loads a model into the in-page engine from the files picked; from then on it answers every call. */
export async function loadModelFiles(files: EngineFile[]): Promise<LocalModelInfo> {
  const r = await local.load(files);
  current = 'local';
  return r;
}

async function post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  if (current === 'local') return local.call<T>(path, body);
  return postServer<T>(path, body, signal);
}

/** A POST to the server's API, whichever engine runs the model. */
async function postServer<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  if (!hasServer) throw new Error('no server: this page was opened from a file (run `glasslm serve`)');
  const r = await apiFetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  const data = (await r.json().catch(() => ({ error: `HTTP ${r.status}` }))) as T & { error?: string };
  if (!r.ok) throw new Error(data.error ?? `HTTP ${r.status}`);
  return data;
}

export async function getModel(): Promise<TraceModelInfo | null> {
  if (!hasServer) return null;
  try {
    const r = await apiFetch('api/model');
    const info = r.ok ? ((await r.json()) as TraceModelInfo) : null;
    if (info && current === null) current = 'server';
    return info;
  } catch {
    return null;
  }
}

/** The server's embedding model, or null (none loaded, no server, or a server without the endpoint). */
export async function getEmbedder(): Promise<EmbedderInfo | null> {
  if (!hasServer) return null;
  try {
    const r = await apiFetch('api/embedder');
    return r.ok ? ((await r.json()) as { embedder: EmbedderInfo | null }).embedder : null;
  } catch {
    return null;
  }
}

/** The server's static word vectors (the word map), or null (none loaded, or no server). */
export async function getWordVectors(): Promise<WordVectorsInfo | null> {
  if (!hasServer) return null;
  try {
    const r = await apiFetch('api/word-vectors');
    return r.ok ? ((await r.json()) as { vectors: WordVectorsInfo | null }).vectors : null;
  } catch {
    return null;
  }
}

// Static word vectors: the server's, whichever engine runs the model (the page's engine has none).
export const wordVectors = (words: string[]) =>
  postServer<{ dim: number; words: Array<{ word: string; vector: number[] }> }>('api/word-vectors', {
    words,
  });
export const analogy = (a: string, b: string, c: string) =>
  postServer<{ answers: Array<{ word: string; score: number }> }>('api/word-vectors/analogy', { a, b, c });
export const contextual = (word: string, sentences: string[]) =>
  post<ContextualComparison>('api/contextual', { word, sentences });

export const similarity = (a: string, b: string, top = 12) =>
  post<SimilarityExplanation>('api/similarity', { a, b, top });

export const tokenize = (text: string) =>
  post<{ tokens: TraceToken[]; count: number }>('api/tokenize', { text });
export const trace = (prompt: string, options: TraceOptions) => post<Trace>('api/trace', { prompt, options });
export const embeddings = (words: string[]) =>
  post<{ dim: number; words: WordVector[] }>('api/embeddings', { words });

export interface GenerateRequest {
  prompt: string;
  steps: number;
  temperature?: number;
  seed?: number;
  forced?: number[];
  topK?: number;
  precision?: number;
}

/** Streams /api/generate: calls onStep with each TraceStep (and its index) as it arrives. */
export async function generate(
  req: GenerateRequest,
  onStep: (step: TraceStep, index: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  if (current === 'local') return local.generate(req, onStep, signal);
  if (!hasServer) throw new Error('no server: this page was opened from a file (run `glasslm serve`)');
  const r = await apiFetch('api/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(req),
    signal,
  });
  if (!r.ok || !r.body) {
    const data = (await r.json().catch(() => ({}))) as { error?: string };
    throw new Error(data.error ?? `HTTP ${r.status}`);
  }
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let n = 0;
  const handle = (line: string) => {
    if (!line.trim()) return;
    const obj = JSON.parse(line) as TraceStep & { error?: string };
    if (obj.error) throw new Error(obj.error);
    onStep(obj, n++);
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      handle(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  handle(buf + dec.decode());
  return n;
}
