// The KV cache: keys and values of every position already seen, per layer, so that generating one
// more token costs one position of work instead of re-running the whole prefix.
//
// It grows as tokens arrive, a block of KV_BLOCK positions at a time, up to maxPositions (the model's
// context length): a sequence of 20 tokens holds 256 positions, not the 131072 of a 128k-context model.
// Each growth copies the filled rows once: over a sequence of n tokens that is n²/(2·KV_BLOCK) rows,
// 1/KV_BLOCK of what attention itself reads.
//
// The arrays come from the backend's allocActivations: the wasm backend's attention then reads them in
// place, where a plain array would be copied into its memory (mirrored) on the way. Growing or releasing
// the cache gives the old storage back at once (freeActivations).
import { backend } from '../tensor/active.js';
import type { Backend } from '../tensor/backend.js';
import { GlassError } from '../util/errors.js';

/** Positions per growth step of a KV cache. */
export const KV_BLOCK = 256;

/** Positions a cache holds once positions 0..positions-1 are filled: whole blocks, at most maxPositions. */
export function kvCapacity(positions: number, maxPositions: number): number {
  return Math.min(maxPositions, Math.ceil(positions / KV_BLOCK) * KV_BLOCK);
}

export class KVCache {
  /** Per layer: keys [capacity, kvDim] (positions ≥ length are not meaningful). */
  readonly k: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  /** How many positions are filled. */
  length = 0;
  /** How many positions the arrays hold now (grows with reserve, up to maxPositions). */
  capacity = 0;

  constructor(
    readonly nLayers: number,
    readonly maxPositions: number,
    readonly kvDim: number,
    /** The backend whose kernels read this cache (it may mirror the arrays into its own memory). */
    private readonly be: Backend = backend(),
  ) {
    for (let l = 0; l < nLayers; l++) {
      this.k.push(new Float32Array(0));
      this.v.push(new Float32Array(0));
    }
  }

  /** Bytes the arrays take now. */
  get bytes(): number {
    return KVCache.bytesFor(this.nLayers, this.kvDim, this.capacity);
  }

  /** Bytes of keys and values (float32, every layer) for `capacity` positions. */
  static bytesFor(nLayers: number, kvDim: number, capacity: number): number {
    return 2 * nLayers * capacity * kvDim * 4;
  }

  /** Makes room for positions 0..positions-1 (the filled ones are kept). */
  reserve(positions: number): void {
    if (positions <= this.capacity) return;
    if (positions > this.maxPositions) {
      throw new GlassError(
        'BAD_INPUT',
        `the sequence would be ${positions} tokens, but the model's context length is ${this.maxPositions}`,
      );
    }
    const capacity = kvCapacity(positions, this.maxPositions);
    const keep = this.length * this.kvDim;
    const b = this.be;
    for (let l = 0; l < this.nLayers; l++) {
      for (const arrays of [this.k, this.v]) {
        const old = arrays[l];
        const next = b.allocActivations(capacity * this.kvDim);
        next.set(old.subarray(0, keep));
        b.freeActivations(old);
        arrays[l] = next;
      }
    }
    this.capacity = capacity;
  }

  /**
   * Becomes a copy of `other` (same shape): its filled positions, keys and values of every layer. Beam
   * search forks a sequence this way. The backend's copies of this cache are dropped (they held the old
   * rows), so the next forward mirrors the new ones.
   */
  copyFrom(other: KVCache): void {
    if (other === this) return;
    if (other.nLayers !== this.nLayers || other.kvDim !== this.kvDim)
      throw new GlassError('BAD_INPUT', 'KVCache.copyFrom: the caches have different shapes');
    this.length = 0; // nothing of the old rows is kept
    this.reserve(other.length);
    const n = other.length * this.kvDim;
    for (let l = 0; l < this.nLayers; l++) {
      this.be.forget(this.k[l]);
      this.be.forget(this.v[l]);
      this.k[l].set(other.k[l].subarray(0, n));
      this.v[l].set(other.v[l].subarray(0, n));
    }
    this.length = other.length;
  }

  /** Forget everything (the buffers are kept, for the next sequence). */
  reset(): void {
    this.length = 0;
  }

  /** Gives the memory back now (the backend's copies too); the cache is empty and grows again if used. */
  release(): void {
    const b = this.be;
    for (let l = 0; l < this.nLayers; l++) {
      b.freeActivations(this.k[l]);
      b.freeActivations(this.v[l]);
      this.k[l] = new Float32Array(0);
      this.v[l] = new Float32Array(0);
    }
    this.length = 0;
    this.capacity = 0;
  }
}
