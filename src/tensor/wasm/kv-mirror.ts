// The KV cache's mirror in the wasm backend's linear memory: each cache array (an ordinary Float32Array
// owned by nn/kv-cache.ts) gets a twin there, and each attention call copies in only the rows written
// since the last one. Freed by forget, or when the cache array is collected.
import type { Staging } from './staging.js';

interface Mirror {
  ptr: number;
  /** Rows 0..rows-1 are up to date. */
  rows: number;
}

export class KvMirror {
  private readonly mirrors = new WeakMap<Float32Array, Mirror>();

  constructor(private readonly st: Staging) {}

  /** Backend.forget: drops the twin of `a`, if any. */
  forget(a: Float32Array): void {
    const m = this.mirrors.get(a);
    if (!m) return;
    this.mirrors.delete(a);
    this.st.reaper.unregister(m);
    this.st.heap.release(m.ptr);
  }

  /**
   * The address of cache rows 0..total-1 in linear memory: the array itself if it lives there, else its
   * mirror, brought up to date. Rows pos0.. were just written by the caller; rows below pos0 were copied
   * by earlier calls, unless the cache was rewound and rewritten meanwhile (a spot check of row pos0-1
   * catches that and recopies everything).
   */
  mirror(cache: Float32Array, pos0: number, total: number, kvDim: number): number {
    const own = this.st.addr(cache);
    if (own >= 0) return own;
    let m = this.mirrors.get(cache);
    if (!m) {
      m = { ptr: this.st.heap.alloc(cache.length * 4), rows: 0 };
      this.mirrors.set(cache, m);
      this.st.reaper.register(cache, m.ptr, m);
    }
    let from = Math.min(m.rows, pos0);
    if (from > 0) {
      const mem = this.st.mem();
      const a = (m.ptr >>> 2) + (from - 1) * kvDim;
      const b = (from - 1) * kvDim;
      for (let i = 0; i < kvDim; i++) {
        if (mem[a + i] !== cache[b + i] && !(Number.isNaN(mem[a + i]) && Number.isNaN(cache[b + i]))) {
          from = 0;
          break;
        }
      }
    }
    if (total > from) {
      this.st.mem().set(cache.subarray(from * kvDim, total * kvDim), (m.ptr >>> 2) + from * kvDim);
      this.st.stats.bytesCopied += (total - from) * kvDim * 4;
    }
    m.rows = total;
    return m.ptr;
  }
}
