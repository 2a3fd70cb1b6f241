// How big a trace will be, from its options and the model's shape, before it is computed: the server
// refuses one past its limit instead of building gigabytes of JSON (an attention map is heads × T² per
// layer; every generated step adds a row over every earlier position in every layer and head).
// Browser-safe.
import type { LanguageModel } from '../models/model.js';
import { stepsOf, type TraceOptions } from './schema.js';

export interface TraceSize {
  /** Numbers the trace holds. */
  values: number;
  /** Candidate tokens it lists (logit lens and outputs). */
  candidates: number;
  /** Its JSON, estimated (bytes). */
  bytes: number;
}

/** Bytes a JSON number takes at `digits` significant digits, with its sign, point, exponent and comma. */
const bytesPerValue = (digits: number) => digits + 5;
/** Bytes of one candidate token: { id, text, prob, logit } with a short text. */
const bytesPerCandidate = (digits: number) => 50 + 2 * bytesPerValue(digits);

/**
 * The size of model.trace(prompt, options) for a prompt of `promptTokens` tokens (BOS included; of an
 * encoder-decoder, the source's tokens: its decoder then reads one start token).
 */
export function traceSize(model: LanguageModel, promptTokens: number, options: TraceOptions = {}): TraceSize {
  const d = model.decoder;
  const s2s = model.seq2seq;
  const T = s2s ? 1 : promptTokens;
  const S = stepsOf(options);
  const L = options.layers?.length ?? d.nLayers;
  const H = d.blocks[0].attention.config.nHeads;
  const headDim = d.blocks[0].attention.config.headDim;
  const k = Math.min(options.topK ?? 10, d.vocabSize);
  const digits = options.precision ?? 5;
  const full = (options.vectors ?? 'full') === 'full';
  const lensRows = options.lens === 'all' ? T : 1;
  const dim = d.dim;

  let values = T; // token norms
  if (full) values += T * dim * (d.positional ? 2 : 1);
  // positional norms, or T5's relative bias (a bucket and H biases per distance), or the rotary angles
  values += d.positional ? T : d.positionBias ? (H + 1) * T : (T * headDim) / 2;
  let perLayer = 4 * T + T * H + 5 * T; // norms, head norms, FFN statistics
  if (full) perLayer += 2 * T * dim;
  if (options.attention ?? true) perLayer += H * T * T;
  values += L * perLayer;
  // Step s sits at position T + s and attends to T + s + 1 positions in every recorded layer and head.
  values += L * H * (S * (T + 1) + (S * (S - 1)) / 2);
  if (s2s) {
    // the source: its embeddings, the encoder's attention, and a cross-attention row per decoder row
    const src = promptTokens;
    const e = s2s.encoder;
    values += 2 * src + (full ? 2 * src * e.dim : 0);
    if (options.attention ?? true) {
      values += e.nLayers * e.blocks[0].attention.config.nHeads * src * src;
      values += L * H * T * src;
    }
    values += L * H * S * src;
  }
  const candidates = L * lensRows * k + (S + 1) * (k + 1);
  const bytes = values * bytesPerValue(digits) + candidates * bytesPerCandidate(digits) + 4096;
  return { values, candidates, bytes };
}
