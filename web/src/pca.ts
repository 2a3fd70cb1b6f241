// Principal component analysis, in the page: centre the vectors, then find the two directions of
// largest variance by power iteration on XᵀX (never forming the dim × dim matrix: powerStep).
import { powerStep } from '../../src/embed/power-iteration.js';

export interface Pca {
  points: Array<[number, number]>;
  /** Fraction of the total variance along each of the two axes. */
  explained: [number, number];
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function pca2(vectors: ArrayLike<number>[]): Pca {
  const n = vectors.length;
  if (n === 0) return { points: [], explained: [0, 0] };
  const d = vectors[0].length;
  const mean = new Float64Array(d);
  for (const v of vectors) for (let i = 0; i < d; i++) mean[i] += v[i] / n;
  const X = vectors.map((v) => Float64Array.from({ length: d }, (_, i) => v[i] - mean[i]));
  let total = 0;
  for (const x of X) total += dot(x, x);
  const comps: Float64Array[] = [];
  const variances: number[] = [];
  for (let c = 0; c < 2; c++) {
    // Deterministic start so the plot does not flip between renders.
    let w: Float64Array = Float64Array.from(
      { length: d },
      (_, i) => Math.sin(i * 12.9898 + c * 78.233) + 0.01,
    );
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      const { next, norm } = powerStep(X, w, comps);
      if (!(norm > 0)) break;
      const diff = Math.abs(norm - lambda);
      lambda = norm;
      w = next;
      if (diff < 1e-10 * Math.max(1, norm)) break;
    }
    // A stable sign: the largest coordinate positive.
    let big = 0;
    for (let i = 1; i < d; i++) if (Math.abs(w[i]) > Math.abs(w[big])) big = i;
    if (w[big] < 0) for (let i = 0; i < d; i++) w[i] = -w[i];
    comps.push(w);
    variances.push(lambda);
  }
  return {
    points: X.map((x) => [dot(x, comps[0]), dot(x, comps[1])] as [number, number]),
    explained: [total ? variances[0] / total : 0, total ? variances[1] / total : 0],
  };
}

// The cosine of two vectors, as the engine computes it.
export { cosine } from '../../src/embed/pooling.js';
