// From token vectors to one sentence vector: mean (all-MiniLM), [CLS], or max pooling; then optionally
// L2-normalise so that a dot product is the cosine similarity.
export type PoolingMode = 'mean' | 'cls' | 'max' | 'mean_sqrt_len';
/** What a sentence vector is made by: an encoder's pooling, or SIF's weighted average of word vectors. */
export type EmbeddingPooling = PoolingMode | 'sif';

/** hidden: [rows × dim]; only the first `valid` rows are real tokens (the rest padding). */
export function pool(
  hidden: Float32Array,
  rows: number,
  dim: number,
  mode: PoolingMode,
  valid = rows,
): Float32Array {
  const out = new Float32Array(dim);
  if (mode === 'cls') {
    out.set(hidden.subarray(0, dim));
    return out;
  }
  const acc = new Float64Array(dim).fill(mode === 'max' ? -Infinity : 0);
  for (let t = 0; t < valid; t++) {
    for (let i = 0; i < dim; i++) {
      const v = hidden[t * dim + i];
      if (mode === 'max') acc[i] = Math.max(acc[i], v);
      else acc[i] += v;
    }
  }
  const div = mode === 'mean' ? valid : mode === 'mean_sqrt_len' ? Math.sqrt(valid) : 1;
  for (let i = 0; i < dim; i++) out[i] = acc[i] / div;
  return out;
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb || 1);
}
