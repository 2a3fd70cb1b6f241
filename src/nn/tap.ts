// Where the trace looks in: a block calls these (when a tap is given) with the vectors it computes.
// With no tap (null) nothing is allocated or copied — recording costs nothing when it is off.
// The buffers passed are the block's own: a tap copies what it keeps.

export interface LayerTap {
  /** The residual stream entering the block [rows × dim]. */
  residualIn(x: Float32Array, rows: number): void;
  /** Whether to compute and pass attention weights (a [nHeads × rows × (pos0+rows)] buffer). */
  readonly wantsAttention: boolean;
  attention(probs: Float32Array, nHeads: number, rows: number, total: number): void;
  /** Each head's output before the output projection [rows × nHeads·headDim]. */
  heads(h: Float32Array, rows: number, nHeads: number, headDim: number): void;
  /** What attention adds to the residual [rows × dim]. */
  attentionOut(a: Float32Array, rows: number): void;
  /** The FFN hidden activations after the nonlinearity [rows × hidden]. */
  ffnHidden(h: Float32Array, rows: number, hidden: number): void;
  /** What the FFN adds to the residual [rows × dim]. */
  ffnOut(f: Float32Array, rows: number): void;
  /** The residual stream leaving the block [rows × dim]. */
  residualOut(x: Float32Array, rows: number): void;
}
