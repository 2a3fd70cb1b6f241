// Power iteration on XᵀX for the leading principal directions of a set of rows, without forming the
// dim × dim matrix: w ← XᵀX·w = Σ_x (x·w)·x, made orthogonal to the directions already found, then
// normalized. SIF's common component (word-vectors.ts: uncentred rows) and the explorer's PCA (web/src/pca.ts:
// centred rows, two directions) each run their own loop, start and sign rule around this one step.

/**
 * One step: next = Σ_x (x·w)·x over `rows`, minus its projection on each (unit) direction of `against`,
 * then divided by its norm. Returns next and that norm; where the norm is not positive, next is left
 * unnormalized and the caller stops.
 */
export function powerStep(
  rows: readonly ArrayLike<number>[],
  w: Float64Array,
  against: readonly Float64Array[] = [],
): { next: Float64Array<ArrayBuffer>; norm: number } {
  const d = w.length;
  const next = new Float64Array(d);
  for (const x of rows) {
    let p = 0;
    for (let i = 0; i < d; i++) p += x[i] * w[i];
    for (let i = 0; i < d; i++) next[i] += p * x[i];
  }
  for (const prev of against) {
    let p = 0;
    for (let i = 0; i < d; i++) p += next[i] * prev[i];
    for (let i = 0; i < d; i++) next[i] -= p * prev[i];
  }
  let n = 0;
  for (let i = 0; i < d; i++) n += next[i] * next[i];
  const norm = Math.sqrt(n);
  if (norm > 0) for (let i = 0; i < d; i++) next[i] /= norm;
  return { next, norm };
}
