// Weight matrices in the wasm backend's linear memory: the placement of a matrix (copied in once, when
// the model is built with this backend active — or on first use, if it was built under another), and the
// matrix classes whose arrays are views of that memory.
import type { Matrix, MatrixF32, MatrixQ8_0, MatrixQuant, QuantPart, QuantType } from '../tensor.js';
import { f16ToF32 } from '../../util/half.js';
import type { Staging } from './staging.js';

/**
 * Columns per slab of a placed f32 matrix. Rows of more than F32_SLAB_FROM_K values are stored in slabs of
 * F32_SLAB columns (all rows of columns [s, s + F32_SLAB), row-major, then the next slab), so that a
 * matrix-vector product reads each slab as one stream with short rows and its slice of the inputs stays
 * in L1 (assembly/kernels.ts, the f32 matmul's layout, has the measurements); shorter rows stay
 * row-major. F32_SLAB is the prefill kernel's block of columns (KC there), so that a block is a slab.
 */
export const F32_SLAB = 512;
export const F32_SLAB_FROM_K = 1024;
export function f32Slab(cols: number): number {
  return cols > F32_SLAB_FROM_K ? F32_SLAB : cols;
}

/**
 * The slab layout's pieces: row j's values [s, s + len) of columns slab s lie at `at` (in floats) —
 * visit(j, s, len, at) for each row and slab, in memory order.
 */
function slabPieces(
  rows: number,
  cols: number,
  slab: number,
  visit: (j: number, s: number, len: number, at: number) => void,
): void {
  for (let s = 0; s < cols; s += slab) {
    const len = Math.min(slab, cols - s);
    for (let j = 0; j < rows; j++) visit(j, s, len, rows * s + j * len);
  }
}

/** Row-major [rows, cols] → slabs of `slab` columns (f32Slab), into dst (not src). */
export function f32ToSlabs(
  src: Float32Array,
  rows: number,
  cols: number,
  slab: number,
  dst: Float32Array,
): void {
  slabPieces(rows, cols, slab, (j, s, len, at) =>
    dst.set(src.subarray(j * cols + s, j * cols + s + len), at),
  );
}

/** Slabs of `slab` columns → row-major [rows, cols], into dst (not src). */
export function f32FromSlabs(
  src: Float32Array,
  rows: number,
  cols: number,
  slab: number,
  dst: Float32Array,
): void {
  slabPieces(rows, cols, slab, (j, s, len, at) => dst.set(src.subarray(at, at + len), j * cols + s));
}

/**
 * An f32 matrix in linear memory, row-major or in slabs (f32Slab). `data` is a row-major view (re-made if a
 * non-shared memory grew): asked of a matrix in slabs, it first rewrites the matrix row-major in place,
 * for good (the kernels follow `slab`), since callers may write through the view (training updates the
 * weights there). `readRow` reads a row in either layout (embedding lookups).
 */
export class WasmMatrixF32 implements MatrixF32 {
  readonly kind = 'f32';
  constructor(
    readonly owner: Staging,
    readonly rows: number,
    readonly cols: number,
    readonly ptr: number,
    /** The view made at allocation: while it is reachable, the memory stays allocated. */
    private readonly token: Float32Array,
    slab = cols,
  ) {
    this.view = token;
    this.slabCols = slab;
  }
  private view: Float32Array;
  private slabCols: number;
  /** Columns per slab in memory: cols when row-major. */
  get slab(): number {
    return this.slabCols;
  }
  private live(): Float32Array {
    if (this.view.length === 0 && this.rows * this.cols !== 0)
      this.view = new Float32Array(this.owner.memory.buffer, this.ptr, this.rows * this.cols);
    return this.view;
  }
  get data(): Float32Array {
    const v = this.live();
    if (this.slabCols < this.cols) {
      f32FromSlabs(v.slice(), this.rows, this.cols, this.slabCols, v);
      this.slabCols = this.cols;
    }
    return v;
  }
  readRow(j: number, dst: Float32Array, at: number): void {
    const v = this.live();
    const { rows, cols, slabCols: slab } = this;
    if (slab === cols) {
      dst.set(v.subarray(j * cols, (j + 1) * cols), at);
      return;
    }
    for (let s = 0; s < cols; s += slab) {
      const len = Math.min(slab, cols - s);
      dst.set(v.subarray(rows * s + j * len, rows * s + (j + 1) * len), at + s);
    }
  }
}

/**
 * A Q8_0 matrix in linear memory, in the kernels' layout (q8Layout: quants and float32 scales in one
 * stream, rows in groups of four interleaved block by block; see matmulQ8 in assembly/kernels.ts).
 * `quants` and `scales` therefore return row-major copies (made on each access) rather than views.
 */
export class WasmMatrixQ8_0 implements MatrixQ8_0 {
  readonly kind = 'q8_0';
  constructor(
    readonly owner: Staging,
    readonly rows: number,
    readonly cols: number,
    /** Where the layout starts: rows·cols·9/8 bytes. */
    readonly ptr: number,
    /** The view made at allocation: while it is reachable, the memory stays allocated. */
    private readonly token: Uint8Array,
  ) {}
  private live(): Uint8Array {
    if (this.token.length > 0 || this.rows * this.cols === 0) return this.token;
    return new Uint8Array(this.owner.memory.buffer, this.ptr, this.token.length);
  }
  get quants(): Int8Array {
    const q = new Int8Array(this.rows * this.cols);
    q8FromKernel(this.live(), this.rows, this.cols, q, null);
    return q;
  }
  get scales(): Float32Array {
    const s = new Float32Array((this.rows * this.cols) / 32);
    q8FromKernel(this.live(), this.rows, this.cols, null, s);
    return s;
  }
}

/** Bytes of a Q8_0 matrix in the kernels' layout: 32 quants and a float32 scale per block. */
export function q8KernelBytes(rows: number, cols: number): number {
  return (rows * cols * 9) / 8;
}

/**
 * The kernels' layout of a Q8_0 matrix, one stream of 36 bytes per block and row: row j's region starts
 * at byte 36·j·(cols/32); within a whole group of four rows, block b holds the four rows' 32 quants one
 * after another, then their four float32 scales (144 bytes, so that the group is read front to back once
 * and the four scales are one v128); rows past the last whole group hold, per block, their 32 quants and
 * then the scale. Calls visit(j, b, quantsAt, scaleAt) for every row j and block b.
 */
function q8Layout(
  rows: number,
  cols: number,
  visit: (j: number, b: number, at: number, sAt: number) => void,
): void {
  const nb = cols / 32;
  const groupEnd = rows & ~3;
  for (let j = 0; j < rows; j++) {
    const g = j & ~3;
    for (let b = 0; b < nb; b++) {
      if (j < groupEnd) {
        const block = 36 * g * nb + 144 * b;
        visit(j, b, block + 32 * (j - g), block + 128 + 4 * (j - g));
      } else visit(j, b, 36 * (j * nb + b), 36 * (j * nb + b) + 32);
    }
  }
}

/** Row-major Q8_0 quants [rows, cols] and scales [rows, cols/32] → the kernels' layout (q8Layout). */
export function q8ToKernel(
  q: Int8Array,
  s: ArrayLike<number>,
  rows: number,
  cols: number,
  out: Uint8Array = new Uint8Array(q8KernelBytes(rows, cols)),
): Uint8Array {
  const nb = cols / 32;
  const qi = new Int8Array(out.buffer, out.byteOffset, out.length);
  const f = new DataView(out.buffer, out.byteOffset, out.length);
  q8Layout(rows, cols, (j, b, at, sAt) => {
    qi.set(q.subarray(j * cols + 32 * b, j * cols + 32 * b + 32), at);
    f.setFloat32(sAt, s[j * nb + b], true);
  });
  return out;
}

/**
 * The kernels' layout (q8Layout) → row-major quants and/or scales, into the arrays given (a matrix's
 * `quants` getter decodes only the quants, `scales` only the scales: the LM head's quants are 38 MB).
 */
export function q8FromKernel(
  bytes: Uint8Array,
  rows: number,
  cols: number,
  q: Int8Array | null,
  s: Float32Array | null,
): void {
  const nb = cols / 32;
  const qi = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const f = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  q8Layout(rows, cols, (j, b, at, sAt) => {
    if (q) q.set(qi.subarray(at, at + 32), j * cols + 32 * b);
    if (s) s[j * nb + b] = f.getFloat32(sAt, true);
  });
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
      const slab = f32Slab(m.cols);
      let data = m.data;
      if (slab < m.cols) {
        // in slabs: always a new allocation (the caller's array, even one from allocWeights, may still
        // be read row-major: a tied embedding table)
        data = st.allocWeights(n);
        f32ToSlabs(m.data, m.rows, m.cols, slab, data);
      } else if (!st.ownsAllocation(data)) {
        // adopt an allocWeights array as it is; copy anything else (a subarray would not keep its memory)
        data = st.allocWeights(n);
        data.set(m.data);
      }
      return new WasmMatrixF32(st, m.rows, m.cols, data.byteOffset, data, slab);
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
    const bytes = q8KernelBytes(m.rows, m.cols);
    const ptr = st.heap.alloc(bytes);
    const all = new Uint8Array(st.buffer(), ptr, bytes);
    st.reaper.register(all, ptr);
    const scales = m.scales instanceof Float32Array ? m.scales : Float32Array.from(m.scales, f16ToF32);
    q8ToKernel(m.quants, scales, m.rows, m.cols, all);
    return new WasmMatrixQ8_0(st, m.rows, m.cols, ptr, all);
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
