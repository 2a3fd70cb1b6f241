// The KV cache: keys and values of every position already seen, per layer, so that generating one
// more token costs one position of work instead of re-running the whole prefix.

export class KVCache {
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  /** How many positions are filled. */
  length = 0;

  constructor(
    readonly nLayers: number,
    readonly maxPositions: number,
    readonly kvDim: number,
  ) {
    this.k = [];
    this.v = [];
    for (let l = 0; l < nLayers; l++) {
      this.k.push(new Float32Array(maxPositions * kvDim));
      this.v.push(new Float32Array(maxPositions * kvDim));
    }
  }

  /** Forget everything (the buffers are reused). */
  reset(): void {
    this.length = 0;
  }
}
