// The header's "Load model…" input and the line that says which engine answers: the server, or the
// engine running in this browser on the files picked (no server needed: a file:// page works).
import * as api from '../api.js';
import { byId, fmt } from '../dom.js';
import type { LocalModelInfo } from './protocol.js';
import './engine.css';

/** Shows which engine is in use (data-engine: server | local | none, for styling and tests). */
export function showEngine(loaded?: LocalModelInfo): void {
  const el = byId('engine');
  const kind = api.engine() ?? 'none';
  el.dataset.engine = kind;
  el.textContent =
    kind === 'server'
      ? 'engine: the server (glasslm serve)'
      : kind === 'local'
        ? `engine: in this browser${loaded ? ` (${kernelsText(loaded)}, loaded in ${fmt(loaded.loadMs, 3)} ms)` : ''}`
        : 'engine: none';
  el.dataset.threads = String(loaded?.threads ?? '');
  el.hidden = false;
}

/** "wasm kernels, 2 threads", or why there is one thread only. */
function kernelsText(k: LocalModelInfo): string {
  if (k.backend !== 'wasm') return `${k.backend} kernels`;
  if (k.isolated) return `wasm kernels, ${k.threads} thread${k.threads === 1 ? '' : 's'}`;
  return 'wasm kernels, 1 thread: this page is not cross-origin isolated, so no shared memory for more (glasslm serve sends the headers that allow it)';
}

export interface ModelLoaderHooks {
  status(text: string): void;
  error(e: unknown): void;
  /** The in-page engine now runs this model and answers every request. */
  loaded(m: LocalModelInfo): void;
}

/** Wires #load-model: its files go to the in-page engine (a .gguf, a .bin + tokenizer, an HF folder's files). */
export function wireModelLoader(hooks: ModelLoaderHooks): void {
  const input = byId<HTMLInputElement>('load-model');
  input.addEventListener('change', () => {
    const files = [...(input.files ?? [])];
    if (!files.length) return;
    const names = files.map((f) => f.name).join(', ');
    const mib = files.reduce((s, f) => s + f.size, 0) / 2 ** 20;
    hooks.status(`loading ${names} (${fmt(mib, 3)} MiB) in this browser…`);
    document.body.classList.add('loading-model');
    api
      .loadModelFiles(files)
      .then((m) => {
        hooks.loaded(m);
        showEngine(m);
        hooks.status(`loaded ${names} in this browser · type a prompt and Run`);
      })
      .catch((e: unknown) => {
        hooks.status('');
        hooks.error(e);
      })
      .finally(() => {
        document.body.classList.remove('loading-model');
        input.value = '';
      });
  });
}
