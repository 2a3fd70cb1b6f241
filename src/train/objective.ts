// What a training run minimises, over the model's one forward pass (Decoder.run / Encoder.run on the tape):
//   NextToken   (decoders: GPT-2, Llama) — mean cross-entropy of each next token over windows of text;
//   PairContrast (encoders: BERT, MiniLM as sentence embedders) — in-batch contrastive loss over
//                (anchor, positive) pairs, sentence-transformers' MultipleNegativesRankingLoss:
//                s = scale · cos(mean(A_i), mean(P_j)),  loss = mean_i CE(s_i·, i);
//   Translation (encoder-decoders: Marian) — teacher-forced cross-entropy of the target given the source.
// Each hands the Trainer its parameters, the batch of step s (a function of the seed and s alone, so a
// resumed run continues the same curve) and the loss of a batch on a tape.
import { Rng } from '../generate/rng.js';
import type { Decoder } from '../models/decoder.js';
import type { Encoder } from '../models/encoder.js';
import type { Seq2Seq } from '../models/seq2seq.js';
import { GlassError } from '../util/errors.js';
import type { Tape, Var } from './autograd.js';
import { randomBatch, stepSeed, type Batch, type TokenIds } from './data.js';
import { Parameters, type ParametersOptions } from './params.js';
import { TapeOps } from './tape-ops.js';

export interface Objective<B> {
  readonly params: Parameters;
  /** The batch of step s (0-based): a function of (seed, s) alone. */
  batchAt(s: number): B;
  /** Tokens a batch feeds through the model (for throughput). */
  tokens(b: B): number;
  /** The batch's loss, a scalar on the tape. */
  loss(tape: Tape, b: B): Var;
  /** Held-out batches, the same ones on every call (none: there is no validation data). */
  validation(): B[];
}

export interface NextTokenOptions {
  batch: number;
  /** Window length (≤ the model's context length). */
  seqLen: number;
  seed: number;
  /** Validation batches per evaluation. */
  evalBatches: number;
}

const NO_TOKENS = new Uint16Array(0);

/** Held-out pairs in consecutive batches of `size` (a last batch under `least` is left out). */
function inBatches<P>(items: readonly P[], size: number, least: number): P[][] {
  const out: P[][] = [];
  for (let i = 0; i + least <= items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Language modelling on a decoder: windows of the token stream, each predicting its next tokens. */
export class NextToken implements Objective<Batch> {
  readonly params: Parameters;

  constructor(
    readonly decoder: Decoder,
    readonly data: { train: TokenIds; val: TokenIds } = { train: NO_TOKENS, val: NO_TOKENS },
    readonly options: NextTokenOptions = { batch: 1, seqLen: 1, seed: 0, evalBatches: 0 },
    params: ParametersOptions = {},
  ) {
    this.params = new Parameters(decoder, params);
  }

  batchAt(s: number): Batch {
    const o = this.options;
    return randomBatch(this.data.train, o.batch, o.seqLen, new Rng(stepSeed(o.seed, s)));
  }

  tokens(b: Batch): number {
    return b.batch * b.seqLen;
  }

  /** Mean next-token cross-entropy: inputs ids, targets the ids shifted by one (−1: no loss there). */
  loss(tape: Tape, b: Batch): Var {
    return tape.crossEntropy(this.logits(tape, b.inputs, b.batch, b.seqLen), b.targets);
  }

  /** Logits [batch·seqLen, vocab] of `batch` windows of `seqLen` ids laid end to end, on the tape. */
  logits(tape: Tape, ids: ArrayLike<number>, batch: number, seqLen: number): Var {
    if (ids.length !== batch * seqLen) throw new Error(`logits: ${ids.length} ids for ${batch}×${seqLen}`);
    const f = new TapeOps(tape, this.params, { batch, seqLen });
    return this.decoder.head(f, this.decoder.run(f, ids));
  }

  validation(): Batch[] {
    const { val } = this.data;
    if (val.length < 2) return [];
    const o = this.options;
    const seqLen = Math.min(o.seqLen, val.length - 1);
    const rng = new Rng(stepSeed(o.seed, 0, 1));
    return Array.from({ length: o.evalBatches }, () => randomBatch(val, o.batch, seqLen, rng));
  }
}

/** A batch of text pairs, padded to one length: anchors then positives, 2·batch sequences of seqLen ids. */
export interface PairBatch {
  ids: Int32Array;
  /** Per sequence (anchors first), how many of its seqLen ids are real (the rest is padding). */
  lengths: Int32Array;
  batch: number;
  seqLen: number;
}

export interface PairContrastOptions {
  /** Pairs per batch (each anchor's negatives are the other pairs' positives). */
  batch: number;
  seed: number;
  /** The cosine similarities are multiplied by this before the softmax (sentence-transformers: 20). */
  scale?: number;
  /** Held-out pairs, evaluated in batches of `batch` (default: none). */
  val?: ReadonlyArray<readonly [ArrayLike<number>, ArrayLike<number>]>;
  /** The padding id (default 0; padded rows get no attention and no weight in the mean). */
  padId?: number;
}

/** Sentence-embedding fine-tuning of an encoder on (anchor, positive) token-id pairs. */
export class PairContrast implements Objective<PairBatch> {
  readonly params: Parameters;
  readonly scale: number;

  constructor(
    readonly encoder: Encoder,
    readonly pairs: ReadonlyArray<readonly [ArrayLike<number>, ArrayLike<number>]>,
    readonly options: PairContrastOptions,
    params: ParametersOptions = {},
  ) {
    if (pairs.length < 2) throw new GlassError('BAD_INPUT', 'contrastive training needs at least 2 pairs');
    if (options.batch < 2)
      throw new GlassError('BAD_INPUT', 'contrastive training needs batches of at least 2 pairs');
    this.params = new Parameters(encoder, params);
    this.scale = options.scale ?? 20;
  }

  /** `batch` pairs drawn at random (without repeats within the batch). */
  batchAt(s: number): PairBatch {
    const rng = new Rng(stepSeed(this.options.seed, s));
    const n = Math.min(this.options.batch, this.pairs.length);
    const picked = new Set<number>();
    while (picked.size < n) picked.add(Math.floor(rng.next() * this.pairs.length));
    return this.pack([...picked].map((i) => this.pairs[i]));
  }

  /** Anchors then positives, each padded to the longest (at most the model's context length). */
  pack(pairs: ReadonlyArray<readonly [ArrayLike<number>, ArrayLike<number>]>): PairBatch {
    const seqs = [...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])];
    const seqLen = Math.min(this.encoder.contextLength, Math.max(...seqs.map((q) => q.length)));
    if (seqLen === 0) throw new GlassError('BAD_INPUT', 'contrastive training: an empty text');
    const ids = new Int32Array(seqs.length * seqLen).fill(this.options.padId ?? 0);
    const lengths = new Int32Array(seqs.length);
    seqs.forEach((q, i) => {
      const n = Math.min(q.length, seqLen);
      if (n === 0) throw new GlassError('BAD_INPUT', 'contrastive training: an empty text');
      for (let t = 0; t < n; t++) ids[i * seqLen + t] = q[t];
      lengths[i] = n;
    });
    return { ids, lengths, batch: pairs.length, seqLen };
  }

  tokens(b: PairBatch): number {
    return b.lengths.reduce((a, n) => a + n, 0);
  }

  /** Sentence vectors [sequences, dim]: the encoder's hidden states, mean-pooled over the real tokens. */
  embed(tape: Tape, b: PairBatch): Var {
    const sequences = 2 * b.batch;
    const f = new TapeOps(tape, this.params, { batch: sequences, seqLen: b.seqLen, validLengths: b.lengths });
    const hidden = this.encoder.run(f, b.ids); // [2·batch·seqLen, dim]
    return tape.meanPool(hidden, sequences, b.seqLen, b.lengths); // [2·batch, dim]
  }

  loss(tape: Tape, b: PairBatch): Var {
    const v = tape.l2Normalize(this.embed(tape, b)); // [2·batch, dim], unit rows
    const n = b.batch;
    const anchors = tape.sliceRows(v, 0, n); // [batch, dim]
    const positives = tape.sliceRows(v, n, 2 * n); // [batch, dim]
    const scores = tape.scale(tape.matmul(anchors, positives), this.scale); // [batch, batch] cosines · scale
    return tape.crossEntropy(
      scores,
      Int32Array.from({ length: n }, (_, i) => i),
    );
  }

  validation(): PairBatch[] {
    // a lone pair has no negatives: every batch needs two
    return inBatches(this.options.val ?? [], this.options.batch, 2).map((p) => this.pack(p));
  }
}

/** A batch of (source, target) pairs for an encoder-decoder, each side padded to its longest. */
export interface TranslationBatch {
  /** [batch·srcLen] source ids; srcLengths[b] of each are real. */
  src: Int32Array;
  srcLengths: Int32Array;
  srcLen: number;
  /** [batch·tgtLen] decoder inputs: the start token, then the target (padded with the start token). */
  inputs: Int32Array;
  /** [batch·tgtLen] what each position must predict: the target, then end-of-text (−1: padding). */
  targets: Int32Array;
  tgtLen: number;
  batch: number;
}

export interface TranslationOptions {
  batch: number;
  seed: number;
  /** The end-of-text id the decoder learns to end with. */
  eos: number;
  /** Held-out pairs, evaluated in batches of `batch` (default: none). */
  val?: ReadonlyArray<readonly [ArrayLike<number>, ArrayLike<number>]>;
}

/**
 * Sequence-to-sequence training (teacher forcing): the encoder reads the source, the decoder reads
 * [start, target…] and predicts [target…, eos] at every position, cross-attending the source:
 *   loss = mean over real target positions of CE(Decoder(inputs, Encoder(src)), targets)
 */
export class Translation implements Objective<TranslationBatch> {
  readonly params: Parameters;

  constructor(
    readonly model: Seq2Seq,
    readonly pairs: ReadonlyArray<readonly [ArrayLike<number>, ArrayLike<number>]>,
    readonly options: TranslationOptions,
    params: ParametersOptions = {},
  ) {
    if (pairs.length === 0) throw new GlassError('BAD_INPUT', 'sequence-to-sequence training needs pairs');
    this.params = new Parameters(model, params);
  }

  /** `batch` pairs drawn at random (with repeats), a function of (seed, s). */
  batchAt(s: number): TranslationBatch {
    const rng = new Rng(stepSeed(this.options.seed, s));
    return this.pack(
      Array.from(
        { length: this.options.batch },
        () => this.pairs[Math.floor(rng.next() * this.pairs.length)],
      ),
    );
  }

  pack(pairs: ReadonlyArray<readonly [ArrayLike<number>, ArrayLike<number>]>): TranslationBatch {
    const m = this.model;
    const batch = pairs.length;
    const srcLen = Math.max(...pairs.map((p) => p[0].length));
    const tgtLen = Math.max(...pairs.map((p) => p[1].length)) + 1;
    if (srcLen === 0) throw new GlassError('BAD_INPUT', 'sequence-to-sequence training: an empty source');
    if (srcLen > m.encoder.contextLength || tgtLen > m.contextLength) {
      throw new GlassError(
        'BAD_INPUT',
        `a pair of ${srcLen} source and ${tgtLen - 1} target tokens does not fit the model (${m.encoder.contextLength}, ${m.contextLength - 1})`,
      );
    }
    const src = new Int32Array(batch * srcLen);
    const srcLengths = new Int32Array(batch);
    const inputs = new Int32Array(batch * tgtLen).fill(m.decoderStartTokenId);
    const targets = new Int32Array(batch * tgtLen).fill(-1);
    pairs.forEach(([s, t], b) => {
      if (s.length === 0) throw new GlassError('BAD_INPUT', 'sequence-to-sequence training: an empty source');
      for (let i = 0; i < s.length; i++) src[b * srcLen + i] = s[i];
      srcLengths[b] = s.length;
      for (let i = 0; i < t.length; i++) {
        inputs[b * tgtLen + i + 1] = t[i];
        targets[b * tgtLen + i] = t[i];
      }
      targets[b * tgtLen + t.length] = this.options.eos;
    });
    return { src, srcLengths, srcLen, inputs, targets, tgtLen, batch };
  }

  tokens(b: TranslationBatch): number {
    return b.srcLengths.reduce((a, n) => a + n, 0) + b.targets.reduce((a, t) => a + (t >= 0 ? 1 : 0), 0);
  }

  /** Logits [batch·tgtLen, vocab] of the decoder over the encoded sources, on the tape. */
  logits(tape: Tape, b: TranslationBatch): Var {
    const { encoder, decoder } = this.model;
    const fe = new TapeOps(tape, this.params, {
      batch: b.batch,
      seqLen: b.srcLen,
      validLengths: b.srcLengths,
    });
    const source = encoder.run(fe, b.src); // [batch·srcLen, dim]
    const fd = new TapeOps(tape, this.params, {
      batch: b.batch,
      seqLen: b.tgtLen,
      source: { seqLen: b.srcLen, validLengths: b.srcLengths },
    });
    return decoder.head(fd, decoder.run(fd, b.inputs, null, source)); // [batch·tgtLen, vocab]
  }

  loss(tape: Tape, b: TranslationBatch): Var {
    return tape.crossEntropy(this.logits(tape, b), b.targets);
  }

  validation(): TranslationBatch[] {
    return inBatches(this.options.val ?? [], this.options.batch, 1).map((p) => this.pack(p));
  }
}
