// Recording a forward pass into the trace: a ForwardRecorder whose layer taps copy what the blocks
// compute (residuals, attention weights, head outputs, FFN activations) and summarise it.
import type { Decoder, ForwardRecorder } from '../models/decoder.js';
import type { LayerTap } from '../nn/tap.js';
import { softmax } from '../generate/sampler.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { Stats, TopToken, TraceLayer } from './schema.js';

export function roundTo(v: number, digits: number): number {
  return v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(digits));
}

export function rowsOf(x: Float32Array, rows: number, cols: number, digits: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Array<number>(cols);
    for (let c = 0; c < cols; c++) row[c] = roundTo(x[r * cols + c], digits);
    out.push(row);
  }
  return out;
}

export function rowNorms(x: Float32Array, rows: number, cols: number, digits: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c] ** 2;
    out.push(roundTo(Math.sqrt(s), digits));
  }
  return out;
}

function stats(x: Float32Array, from: number, n: number, digits: number): Stats {
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  let pos = 0;
  for (let i = from; i < from + n; i++) {
    const v = x[i];
    sum += v;
    sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v > 0) pos++;
  }
  const mean = sum / n;
  return {
    mean: roundTo(mean, digits),
    std: roundTo(Math.sqrt(Math.max(0, sq / n - mean * mean)), digits),
    min: roundTo(min, digits),
    max: roundTo(max, digits),
    positive: roundTo(pos / n, digits),
  };
}

/** A token's text as it reads inside a running text (a leading space kept). */
export function pieceText(tok: Tokenizer, id: number): string {
  const d = tok.decoder();
  return d.push(id) + d.flush();
}

/** The k most likely next tokens of one row of logits. */
export function topTokens(tok: Tokenizer, logits: Float32Array, k: number, digits: number): TopToken[] {
  const p = softmax(logits);
  const ids = Array.from({ length: Math.min(k, logits.length) }, () => -1);
  // Partial selection: keep the k best seen so far (k is small).
  for (let i = 0; i < logits.length; i++) {
    if (ids[k - 1] !== -1 && p[i] <= p[ids[k - 1]]) continue;
    let j = k - 1;
    while (j > 0 && (ids[j - 1] === -1 || p[i] > p[ids[j - 1]])) {
      ids[j] = ids[j - 1];
      j--;
    }
    ids[j] = i;
  }
  return ids
    .filter((id) => id >= 0)
    .map((id) => ({
      id,
      text: pieceText(tok, id),
      prob: roundTo(p[id], digits),
      logit: roundTo(logits[id], digits),
    }));
}

export interface RecorderOptions {
  layers: Set<number>;
  topK: number;
  full: boolean;
  attention: boolean;
  lensRows: number[];
  digits: number;
}

/** Attention weights [nHeads × rows × cols] as [H][rows][cols]. */
function headRows(probs: Float32Array, nHeads: number, rows: number, cols: number, d: number): number[][][] {
  const out: number[][][] = [];
  for (let h = 0; h < nHeads; h++) out.push(rowsOf(probs.subarray(h * rows * cols), rows, cols, d));
  return out;
}

/** Records an encoder's self-attention (an encoder-decoder's source pass): [L][H][S][S] for every layer. */
export function encoderAttentionTap(out: number[][][][], digits: number): (l: number) => LayerTap {
  const noop = () => {};
  return () => ({
    wantsAttention: true,
    residualIn: noop,
    attention(probs, nHeads, rows, total) {
      out.push(headRows(probs, nHeads, rows, total, digits));
    },
    heads: noop,
    attentionOut: noop,
    ffnHidden: noop,
    ffnOut: noop,
    residualOut: noop,
  });
}

/** Records the prompt pass: every wanted layer in full (or summarised). */
export class PromptRecorder implements ForwardRecorder {
  readonly layers: TraceLayer[] = [];
  tokenVectors: Float32Array | null = null;

  constructor(
    private readonly decoder: Decoder,
    private readonly tokenizer: Tokenizer,
    private readonly o: RecorderOptions,
  ) {}

  embeddings(_ids: ArrayLike<number>, tokenVectors: Float32Array): void {
    this.tokenVectors = Float32Array.from(tokenVectors);
  }

  layer(l: number): LayerTap | null {
    if (!this.o.layers.has(l)) return null;
    const { decoder, tokenizer, o } = this;
    const dim = decoder.dim;
    const d = o.digits;
    const att = decoder.blocks[l].attention;
    const rec: TraceLayer = {
      layer: l,
      ...(att.window && { window: att.window }),
      ...(att.softcap && { softcap: att.softcap }),
      residualInNorms: [],
      residualOutNorms: [],
      headNorms: [],
      attentionAddedNorms: [],
      ffnAddedNorms: [],
      ffnActivations: [],
      lens: [],
    };
    this.layers.push(rec);
    return {
      wantsAttention: o.attention,
      residualIn(x, rows) {
        rec.residualInNorms = rowNorms(x, rows, dim, d);
        if (o.full) rec.residualIn = rowsOf(x, rows, dim, d);
      },
      attention(probs, nHeads, rows, total) {
        rec.attention = headRows(probs, nHeads, rows, total, d);
      },
      ...(o.attention
        ? {
            crossAttention(probs: Float32Array, nHeads: number, rows: number, srcRows: number) {
              rec.crossAttention = headRows(probs, nHeads, rows, srcRows, d);
            },
          }
        : {}),
      heads(hs, rows, nHeads, headDim) {
        for (let t = 0; t < rows; t++) {
          const row: number[] = [];
          for (let h = 0; h < nHeads; h++) {
            let s = 0;
            for (let i = 0; i < headDim; i++) s += hs[(t * nHeads + h) * headDim + i] ** 2;
            row.push(roundTo(Math.sqrt(s), d));
          }
          rec.headNorms.push(row);
        }
      },
      attentionOut(a, rows) {
        rec.attentionAddedNorms = rowNorms(a, rows, dim, d);
      },
      ffnHidden(h, rows, hidden) {
        for (let t = 0; t < rows; t++) rec.ffnActivations.push(stats(h, t * hidden, hidden, d));
      },
      ffnOut(f, rows) {
        rec.ffnAddedNorms = rowNorms(f, rows, dim, d);
      },
      residualOut(x, rows) {
        rec.residualOutNorms = rowNorms(x, rows, dim, d);
        if (o.full) rec.residualOut = rowsOf(x, rows, dim, d);
        // Logit lens: what this layer's residual would predict if the network stopped here.
        const pick = new Float32Array(o.lensRows.length * dim);
        o.lensRows.forEach((r, i) => pick.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
        const logits = decoder.logits(pick, o.lensRows.length);
        const v = decoder.vocabSize;
        rec.lens = o.lensRows.map((_, i) =>
          topTokens(tokenizer, logits.subarray(i * v, (i + 1) * v), o.topK, d),
        );
        void rows;
      },
    };
  }
}

/** Records one generated token: only its attention row (and cross-attention row) in each wanted layer. */
export class StepRecorder implements ForwardRecorder {
  readonly attention: number[][][] = [];
  /** Encoder-decoders: [L][H][S], the new token's row over the source in each wanted layer. */
  readonly crossAttention: number[][][] = [];

  constructor(
    private readonly layers: Set<number>,
    private readonly digits: number,
  ) {}

  embeddings(): void {}

  layer(l: number): LayerTap | null {
    if (!this.layers.has(l)) return null;
    const out = this.attention;
    const cross = this.crossAttention;
    const d = this.digits;
    const noop = () => {};
    return {
      wantsAttention: true,
      residualIn: noop,
      attention(probs, nHeads, rows, total) {
        out.push(rowsOf(probs, nHeads * rows, total, d));
      },
      crossAttention(probs, nHeads, rows, srcRows) {
        cross.push(rowsOf(probs, nHeads * rows, srcRows, d));
      },
      heads: noop,
      attentionOut: noop,
      ffnHidden: noop,
      ffnOut: noop,
      residualOut: noop,
    };
  }
}
