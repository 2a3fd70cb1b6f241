// Weight matrices in the wasm backend's linear memory: the placement of a matrix (copied in once, when
// the model is built with this backend active — or on first use, if it was built under another), and the
// matrix classes whose arrays are views of that memory.
import type { Matrix, MatrixF32, MatrixQ8_0, MatrixQuant, QuantPart, QuantType } from '../tensor.js';
import { f16ToF32 } from '../../util/half.js';
import type { Staging } from './staging.js';

/** An f32 matrix in linear memory. `data` is a view (re-made if a non-shared memory grew). */
export class WasmMatrixF32 implements MatrixF32 {
  readonly kind = 'f32';
  constructor(
    readonly owner: Staging,
    readonly rows: number,
    readonly cols: number,
    readonly ptr: number,
    /** The view made at allocation: while it is reachable, the memory stays allocated. */
    private readonly token: Float32Array,
  ) {
    this.view = token;
  }
  private view: Float32Array;
  get data(): Float32Array {
    if (this.view.length === 0 && this.rows * this.cols !== 0)
      this.view = new Float32Array(this.owner.memory.buffer, this.ptr, this.rows * this.cols);
    return this.view;
  }
}

/**
 * A Q8_0 matrix in linear memory, scales widened to float32, stored in the kernels' layout: rows in
 * groups of four interleaved block by block (see matmulQ8 in assembly/kernels.ts). `quants` and `scales`
 * therefore return row-major copies (made on each access) rather than views.
 */
export class WasmMatrixQ8_0 implements MatrixQ8_0 {
  readonly kind = 'q8_0';
  constructor(
    readonly owner: Staging,
    readonly rows: number,
    readonly cols: number,
    readonly qptr: number,
    readonly sptr: number,
    /** The views made at allocation: while they are reachable, the memory stays allocated. */
    private readonly tokens: [Int8Array, Float32Array],
  ) {}
  private live(): [Int8Array, Float32Array] {
    const [q, s] = this.tokens;
    if (q.length > 0 || this.rows * this.cols === 0) return [q, s];
    const buf = this.owner.memory.buffer;
    return [new Int8Array(buf, this.qptr, q.length), new Float32Array(buf, this.sptr, s.length)];
  }
  get quants(): Int8Array {
    const out = new Int8Array(this.rows * this.cols);
    q8Interleave(this.rows, this.cols, this.live()[0], out, null, null, false);
    return out;
  }
  get scales(): Float32Array {
    const out = new Float32Array((this.rows * this.cols) / 32);
    q8Interleave(this.rows, this.cols, null, null, this.live()[1], out, false);
    return out;
  }
}

/**
 * Row-major Q8_0 arrays ↔ the kernels' layout (groups of four rows interleaved by 32-block), either way:
 * `toKernel` reads the row-major (q, s) and writes the interleaved (q2, s2); otherwise the reverse
 * (reading q/s as interleaved, writing q2/s2 row-major). Rows past the last whole group are copied as
 * they are.
 */
function q8Interleave(
  rows: number,
  cols: number,
  q: Int8Array | null,
  q2: Int8Array | null,
  s: ArrayLike<number> | null,
  s2: Float32Array | null,
  toKernel: boolean,
): void {
  const nb = cols / 32;
  const groups = rows >> 2;
  if (q && q2) {
    for (let g = 0; g < groups; g++) {
      const base = g * 4 * cols;
      for (let r = 0; r < 4; r++) {
        for (let b = 0; b < nb; b++) {
          const rowMajor = base + r * cols + b * 32;
          const inter = base + b * 128 + r * 32;
          if (toKernel) q2.set(q.subarray(rowMajor, rowMajor + 32), inter);
          else q2.set(q.subarray(inter, inter + 32), rowMajor);
        }
      }
    }
    q2.set(q.subarray(groups * 4 * cols), groups * 4 * cols);
  }
  if (s && s2) {
    for (let g = 0; g < groups; g++) {
      const base = g * 4 * nb;
      for (let r = 0; r < 4; r++) {
        for (let b = 0; b < nb; b++) {
          if (toKernel) s2[base + b * 4 + r] = s[base + r * nb + b];
          else s2[base + r * nb + b] = s[base + b * 4 + r];
        }
      }
    }
    for (let i = groups * 4 * nb; i < s2.length; i++) s2[i] = s[i];
  }
}

/**
 * A matrix in ggml blocks (Q4_0, Q4_K, Q5_K, Q6_K) in linear memory: its parts' bytes one after another
 * at ptr, exactly as GGUF stores them (the kernels, assembly/kquants.ts, read that layout as it is), so the
 * matrix holds the file's bits per weight. `parts` are views (re-made if a non-shared memory grew).
 */
export class WasmMatrixQuant implements MatrixQuant {
  readonly kind = 'quant';
  constructor(
    readonly owner: Staging,
    readonly rows: number,
    readonly cols: number,
    readonly ptr: number,
    /** Each part's type, rows and byte offset from ptr (what the kernels are called with). */
    readonly layout: ReadonlyArray<{ type: QuantType; rows: number; row0: number; offset: number }>,
    /** The view made at allocation: while it is reachable, the memory stays allocated. */
    private readonly token: Uint8Array,
  ) {
    this.byteLength = token.length;
  }
  readonly byteLength: number;
  get parts(): QuantPart[] {
    let all = this.token;
    if (all.length === 0 && this.layout.length > 0)
      all = new Uint8Array(this.owner.memory.buffer, this.ptr, this.byteLength);
    return this.layout.map((l, i) => {
      const end = i + 1 < this.layout.length ? this.layout[i + 1].offset : all.length;
      return { type: l.type, rows: l.rows, bytes: all.subarray(l.offset, end) };
    });
  }
}

export type WasmMatrix = WasmMatrixF32 | WasmMatrixQ8_0 | WasmMatrixQuant;
const isPlaced = (m: Matrix, st: Staging): m is WasmMatrix =>
  (m instanceof WasmMatrixF32 || m instanceof WasmMatrixQ8_0 || m instanceof WasmMatrixQuant) &&
  m.owner === st;

/** The placement of matrices in one backend's memory (`st`). */
export class Placement {
  /** Matrices built before this backend was active, placed on first use (their own arrays stay too). */
  private readonly late = new WeakMap<Matrix, WasmMatrix>();

  constructor(private readonly st: Staging) {}

  /**
   * Backend.placeMatrix: `m` copied into linear memory (Q8_0 in the kernels' layout, ggml blocks as they
   * are), or `m` if it is there.
   */
  place(m: Matrix): Matrix {
    const st = this.st;
    if (isPlaced(m, st)) return m;
    if (m.kind === 'f32') {
      const n = m.rows * m.cols;
      let data = m.data;
      // adopt an allocWeights array as it is; copy anything else (a subarray would not keep its memory)
      if (!st.ownsAllocation(data)) {
        data = st.allocWeights(n);
        data.set(m.data);
      }
      return new WasmMatrixF32(st, m.rows, m.cols, data.byteOffset, data);
    }
    if (m.kind === 'quant') {
      // the parts' bytes back to back, as they are
      const layout: { type: QuantType; rows: number; row0: number; offset: number }[] = [];
      let bytes = 0;
      let row0 = 0;
      for (const p of m.parts) {
        layout.push({ type: p.type, rows: p.rows, row0, offset: bytes });
        bytes += p.bytes.length;
        row0 += p.rows;
      }
      const ptr = st.heap.alloc(bytes);
      const all = new Uint8Array(st.buffer(), ptr, bytes);
      st.reaper.register(all, ptr);
      for (const [i, p] of m.parts.entries()) all.set(p.bytes, layout[i].offset);
      return new WasmMatrixQuant(st, m.rows, m.cols, ptr, layout, all);
    }
    const n = m.rows * m.cols;
    // both allocations first: a growth between them would detach the first view (plain memory)
    const sptr = st.heap.alloc(n / 8);
    const qptr = st.heap.alloc(n);
    const buf = st.buffer();
    const s = new Float32Array(buf, sptr, n / 32);
    const q = new Int8Array(buf, qptr, n);
    st.reaper.register(s, sptr);
    st.reaper.register(q, qptr);
    const scales = m.scales instanceof Float32Array ? m.scales : Float32Array.from(m.scales, f16ToF32);
    q8Interleave(m.rows, m.cols, m.quants, q, scales, s, true);
    return new WasmMatrixQ8_0(st, m.rows, m.cols, qptr, s.byteOffset, [q, s]);
  }

  /** This backend's placement of `w` (placing it now if it was built under another backend). */
  placed(w: Matrix): WasmMatrix {
    if (isPlaced(w, this.st)) return w;
    let p = this.late.get(w);
    if (!p) {
      p = this.place(w) as WasmMatrix;
      this.late.set(w, p);
    }
    return p;
  }
}
