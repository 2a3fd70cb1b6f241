// The wasm backend's access to its linear memory: which arrays live there (views of it, used in place),
// allocations that free themselves when their array is collected, and staging — a kernel's arrays copied
// into a scratch region unless they already live in the memory, and its outputs copied back out.
//
// Growth. A shared memory (Node, cross-origin-isolated browsers) keeps every view valid when it grows.
// A plain one detaches them: `addr` then refuses a view made before the growth (see allocWeights).
import { ALIGN, type WasmHeap } from './heap.js';

/** Call statistics, for the benchmark: time spent copying activations vs total. */
export interface WasmStats {
  calls: number;
  bytesCopied: number;
}

/** One array of a kernel call: [array, values to stage, output? (not copied in, copied back by unstage)]. */
export type Staged = readonly [a: Float32Array, n: number, output?: boolean];

/** `bytes` rounded up to the heap's alignment. */
export function pad(bytes: number): number {
  return Math.ceil(bytes / ALIGN) * ALIGN;
}

export class Staging {
  private f32: Float32Array;
  private scratchPtr = 0;
  private scratchBytes = 0;
  /** Every ArrayBuffer/SharedArrayBuffer object `memory.buffer` has been (views of it are resident). */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** Arrays returned by allocWeights, with their addresses: each keeps its allocation alive (a subarray of one does not). */
  private readonly tokens = new WeakMap<object, number>();
  /** Frees the memory of an allocation when the array (or matrix) that owns it is collected. */
  readonly reaper = new FinalizationRegistry<number>((ptr) => this.heap.release(ptr));

  constructor(
    readonly memory: WebAssembly.Memory,
    readonly heap: WasmHeap,
    readonly stats: WasmStats,
  ) {
    this.f32 = this.view();
  }

  private view(): Float32Array {
    const buf = this.memory.buffer;
    this.buffers.add(buf);
    return new Float32Array(buf);
  }

  /** The whole memory as float32, current after any growth. */
  mem(): Float32Array {
    if (this.f32.buffer !== this.memory.buffer) this.f32 = this.view();
    return this.f32;
  }

  /** The memory's buffer now, noted as resident (views made of it are used in place). */
  buffer(): ArrayBufferLike {
    const buf = this.memory.buffer;
    this.buffers.add(buf);
    return buf;
  }

  /** The address of `a` if it is a view of this memory, else -1. */
  addr(a: ArrayBufferView): number {
    if (!this.buffers.has(a.buffer)) return -1;
    if (a.buffer.byteLength === 0) {
      throw new Error(
        'wasm backend: an array in linear memory was used after the memory grew (a plain, non-shared ' +
          'memory detaches its arrays): reserve enough with createWasmBackend({ initialMiB })',
      );
    }
    return a.byteOffset;
  }

  /** Zeroed n floats in linear memory, freed when the array is collected. */
  allocWeights(n: number): Float32Array {
    const ptr = this.heap.calloc(4 * n);
    const a = new Float32Array(this.memory.buffer, ptr, n);
    this.buffers.add(a.buffer);
    this.reaper.register(a, ptr, a);
    this.tokens.set(a, ptr);
    return a;
  }

  /** Frees now the allocation of an array allocWeights returned (a no-op for any other array). */
  free(a: Float32Array): void {
    const ptr = this.tokens.get(a);
    if (ptr === undefined) return;
    this.tokens.delete(a);
    this.reaper.unregister(a);
    this.heap.release(ptr);
  }

  /** Whether `a` is an array allocWeights returned (it owns its allocation; a subarray does not). */
  ownsAllocation(a: Float32Array): boolean {
    return this.tokens.has(a);
  }

  /** A scratch region of at least `bytes`, reused by every call (so: one call's worth at a time). */
  private scratch(bytes: number): number {
    if (bytes > this.scratchBytes) {
      const want = Math.max(bytes, 2 * this.scratchBytes, 1 << 20);
      if (this.scratchBytes) this.heap.release(this.scratchPtr);
      this.scratchBytes = 0;
      try {
        this.scratchPtr = this.heap.alloc(want);
        this.scratchBytes = want;
      } catch (e) {
        // near the memory's limit: exactly what is needed, or the error
        if (want === bytes) throw e;
        this.scratchPtr = this.heap.alloc(bytes);
        this.scratchBytes = bytes;
      }
    }
    return this.scratchPtr;
  }

  /** Copies n values of `a` to address p. */
  put(p: number, a: Float32Array, n: number): void {
    this.mem().set(n === a.length ? a : a.subarray(0, n), p >>> 2);
    this.stats.bytesCopied += 4 * n;
  }

  /** Copies n values from address p into `a`. */
  get(a: Float32Array, p: number, n: number): void {
    a.set(this.mem().subarray(p >>> 2, (p >>> 2) + n));
    this.stats.bytesCopied += 4 * n;
  }

  /**
   * Addresses in linear memory for a kernel's arrays: the array's own where it lives there, else a place
   * in one region (the scratch, or what `at` returns for the bytes needed) holding a copy of its first n
   * values — or, for an output, left as it is: the caller copies it back (see unstage). Then `extra`
   * bytes of the region, whose address comes last.
   */
  stage(arrays: readonly Staged[], extra = 0, at?: (bytes: number) => number): number[] {
    // plain loops, no closures: this runs on every kernel call
    const count = arrays.length;
    const ptrs = new Array<number>(count + 1);
    let bytes = extra;
    for (let i = 0; i < count; i++) {
      const p = this.addr(arrays[i][0]);
      ptrs[i] = p;
      if (p < 0) bytes += pad(4 * arrays[i][1]);
    }
    let s = at ? at(bytes) : this.scratch(bytes);
    for (let i = 0; i < count; i++) {
      if (ptrs[i] >= 0) continue;
      const [a, n, output] = arrays[i];
      ptrs[i] = s;
      if (!output) this.put(s, a, n);
      s += pad(4 * n);
    }
    ptrs[count] = s;
    return ptrs;
  }

  /** Copies an output back from where stage put it (nothing to do if the array lives in memory). */
  unstage(a: Float32Array, p: number, n: number): void {
    if (p !== this.addr(a)) this.get(a, p, n);
  }
}
