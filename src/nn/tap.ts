// Where the trace looks in: the ops of an inference pass call these (when a tap is given) with the vectors
// a block computes (see nn/ops.ts `look`). With no tap (null) nothing is allocated or copied — recording
// costs nothing when it is off. The buffers passed are the block's own: a tap copies what it keeps.

export interface LayerTap {
  /**
   * A stage of the block, [rows × cols]: the residual stream entering it (residualIn), what attention adds
   * (attentionOut), the FFN hidden activations after the nonlinearity (ffnHidden, cols = hidden), what the
   * FFN adds (ffnOut), the residual stream leaving it (residualOut).
   */
  residualIn(x: Float32Array, rows: number, cols: number): void;
  attentionOut(a: Float32Array, rows: number, cols: number): void;
  ffnHidden(h: Float32Array, rows: number, cols: number): void;
  ffnOut(f: Float32Array, rows: number, cols: number): void;
  residualOut(x: Float32Array, rows: number, cols: number): void;
  /** Whether to compute and pass attention weights (a [nHeads × rows × (pos0+rows)] buffer). */
  readonly wantsAttention: boolean;
  attention(probs: Float32Array, nHeads: number, rows: number, total: number): void;
  /** Cross-attention weights of a decoder block, [nHeads × rows × srcRows]: the alignment to the source. */
  crossAttention?(probs: Float32Array, nHeads: number, rows: number, srcRows: number): void;
  /** Each head's output before the output projection [rows × nHeads·headDim]. */
  heads(h: Float32Array, rows: number, nHeads: number, headDim: number): void;
}
