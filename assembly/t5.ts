// T5's attention: the reference kernel's semantics (src/tensor/reference/kernels.ts `attend`) with the
// score terms of ScoreTerms (src/tensor/backend.ts) — a given scale (T5: 1, no 1/√d) and an additive bias
// per (query, key) pair and head (T5's relative position bias):
//   S[h, i, j] = scale · q_i·k_j + bias[(i·total + j)·nHeads + h],  j < len(i);  out_i = softmax(S)·V
// len(i) = pos0 + i + 1 when valid < 0 (causal), else valid (bidirectional, cross); `total` is the row
// length of bias and probs (pos0 + t causal, t bidirectional, the source's length cross). Scalar code, scores
// and sums in float64: T5 runs here only when its bias or scale is asked for, the other models never.
// A sliding window (window > 0, causal only) limits query i to keys [windowStart, len(i)); cap > 0
// soft-caps each score to cap·tanh(S/cap) before the softmax (both as in the fast kernels: score-terms.ts).
// Every pointer is a byte offset into linear memory (see kernels.ts); `scores` is scratch of 8·total bytes.
import { windowStart } from './score-terms';

/** Heads h0..h1-1 of t queries over keys/values at k, v ([rows, nKv·hd] each); probs (0: none) [nHeads, t, total]. */
export function attentionBiased(
  out: usize,
  q: usize,
  k: usize,
  v: usize,
  t: i32,
  pos0: i32,
  valid: i32,
  total: i32,
  nHeads: i32,
  nKv: i32,
  hd: i32,
  scale: f64,
  bias: usize,
  probs: usize,
  scores: usize,
  h0: i32,
  h1: i32,
  window: i32,
  cap: f64,
): void {
  const group = nHeads / nKv;
  for (let h = h0; h < h1; h++) {
    const kvOff = (h / group) * hd;
    for (let i = 0; i < t; i++) {
      const qOff = i * nHeads * hd + h * hd;
      const n = valid < 0 ? pos0 + i + 1 : valid;
      const lo = windowStart(pos0 + i, valid, window);
      // scores: scale·q·k + the pair's bias for this head (soft-capped)
      let max = -Infinity;
      for (let j = lo; j < n; j++) {
        const kOff = j * nKv * hd + kvOff;
        let s: f64 = 0;
        for (let d = 0; d < hd; d++)
          s += <f64>load<f32>(q + ((<usize>(qOff + d)) << 2)) * <f64>load<f32>(k + ((<usize>(kOff + d)) << 2));
        s *= scale;
        if (bias) s += <f64>load<f32>(bias + ((<usize>((i * total + j) * nHeads + h)) << 2));
        if (cap > 0) s = cap * Math.tanh(s / cap);
        store<f64>(scores + ((<usize>j) << 3), s);
        if (s > max) max = s;
      }
      // softmax over the n keys the query sees
      let sum: f64 = 0;
      for (let j = lo; j < n; j++) {
        const e = Math.exp(load<f64>(scores + ((<usize>j) << 3)) - max);
        store<f64>(scores + ((<usize>j) << 3), e);
        sum += e;
      }
      // out_i = Σ_j p_j·v_j (and the weights, when asked for)
      const pOff = (h * t + i) * total;
      for (let d = 0; d < hd; d++) {
        let acc: f64 = 0;
        for (let j = lo; j < n; j++)
          acc += load<f64>(scores + ((<usize>j) << 3)) * <f64>load<f32>(v + ((<usize>(j * nKv * hd + kvOff + d)) << 2));
        store<f32>(out + ((<usize>(qOff + d)) << 2), <f32>(acc / sum));
      }
      if (probs) {
        for (let j = 0; j < lo; j++) store<f32>(probs + ((<usize>(pOff + j)) << 2), 0);
        for (let j = lo; j < n; j++)
          store<f32>(probs + ((<usize>(pOff + j)) << 2), <f32>(load<f64>(scores + ((<usize>j) << 3)) / sum));
        for (let j = n; j < total; j++) store<f32>(probs + ((<usize>(pOff + j)) << 2), 0);
      }
    }
  }
}
