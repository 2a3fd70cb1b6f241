// What a module can be trained on: its weight arrays by name, in a fixed order (optimizer state is saved
// under these names). Inference never reads this; training (train/params.ts) turns each into a parameter
// that owns the same array, so an update is seen by the very next forward pass.
import type { Matrix } from '../tensor/index.js';

export interface Weight {
  /** e.g. "blocks.0.attn.qkv.weight". */
  readonly name: string;
  /** The array the forward pass reads: a Float32Array, or a matrix (whose f32 data it is). */
  readonly value: Float32Array | Matrix;
  readonly shape: readonly number[];
  /** Decoupled weight decay applies (the matrices of linear maps; not norms, biases or tables). */
  readonly decay: boolean;
  /** Read by the forward pass but never trained (a sinusoidal table): a constant on the tape. */
  readonly fixed?: boolean;
}

/** A module's weights under `prefix.` (names keep their order). */
export function prefixed(prefix: string, weights: readonly Weight[]): Weight[] {
  return weights.map((w) => ({ ...w, name: `${prefix}.${w.name}` }));
}
