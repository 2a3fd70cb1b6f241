// Stage 7, repeated — the response: prompt → ids → forward (filling the KV cache) → sample → feed the
// new token back → … streaming text as soon as whole characters are known.
import type { Decoder } from '../models/decoder.js';
import type { Seq2Seq } from '../models/seq2seq.js';
import type { LayerTap } from '../nn/tap.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';
import type { EarlyStopping } from './beam.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import {
  generationSteps,
  nextTurn,
  type GenerationStep,
  type StepModel,
  type StepsEnd,
  type StopReason,
} from './steps.js';

export interface GenerateOptions extends SamplingOptions {
  /** Most new tokens to produce (default 128). */
  maxTokens?: number;
  /** Stop as soon as any of these strings appears; the stop string itself is not emitted. */
  stop?: string[];
  /** Stop at the end-of-text token (default true). */
  stopAtEos?: boolean;
  signal?: AbortSignal;
  /** Beam search with this many beams (1 = off). Its text comes whole, at the end (no streaming). */
  numBeams?: number;
  /** Beam search: finished scores are sum log-prob / length^lengthPenalty (default 1). */
  lengthPenalty?: number;
  /** Beam search: true, false (default, HF's heuristic) or 'never' (see generate/beam.ts). */
  earlyStopping?: EarlyStopping;
  /** Beam search: how many hypotheses `result.sequences` holds, best first (default 1, <= numBeams). */
  numReturnSequences?: number;
  /** Never repeat an n-gram of this many tokens (the prompt's included); 0 = off. */
  noRepeatNgramSize?: number;
}

export type { StopReason };

/** What a model's generation_config.json can set: sampling, beam search, n-gram bans. */
export type GenerationDefaults = SamplingOptions &
  Pick<GenerateOptions, 'numBeams' | 'lengthPenalty' | 'earlyStopping' | 'noRepeatNgramSize'>;

/** One finished beam-search hypothesis. */
export interface GeneratedSequence {
  /** Generated ids (excluding a final end-of-text). */
  ids: number[];
  text: string;
  /** Sum of the chosen tokens' log-probabilities, and that over length^lengthPenalty (the ranking). */
  logprob: number;
  score: number;
  stopReason: StopReason;
}

export interface GenerationResult {
  promptIds: number[];
  /** Ids of the generated tokens (excluding a final end-of-text). */
  ids: number[];
  text: string;
  stopReason: StopReason;
  /** Seconds spent on the prompt (prefill) and on generating (decode). */
  prefillSeconds: number;
  decodeSeconds: number;
  /** Beam search: the best hypotheses, best first (numReturnSequences); ids/text are the first's. */
  sequences?: GeneratedSequence[];
}

/** An async iterable of text pieces; `result` settles when the iteration ends. */
export interface Generation extends AsyncIterable<string> {
  readonly result: Promise<GenerationResult>;
}

export interface GenerationContext {
  decoder: Decoder;
  /** An encoder-decoder: the prompt is its source; the decoder starts from its start token. */
  seq2seq?: Seq2Seq | null;
  tokenizer: Tokenizer;
  /** Prepend BOS to prompts (SentencePiece models); GPT-2 does not. */
  addBos: boolean;
}

export function encodePrompt(ctx: GenerationContext, prompt: string | ArrayLike<number>): number[] {
  const ids = typeof prompt === 'string' ? Array.from(ctx.tokenizer.encode(prompt)) : Array.from(prompt);
  const { bos, eos } = ctx.tokenizer.specialTokens;
  if (ctx.addBos && bos !== undefined && ids[0] !== bos) ids.unshift(bos);
  // An empty prompt starts from the start-of-text marker (GPT-2 uses <|endoftext|> for that).
  if (ids.length === 0) {
    const start = bos ?? eos;
    if (start === undefined)
      throw new GlassError('BAD_INPUT', 'the prompt is empty and the tokenizer has no start token');
    ids.push(start);
  }
  return ids;
}

/** What the step loop runs for one prompt (stepInput). */
export interface StepInput {
  /** The network each step runs: the decoder, or an encoder-decoder's decoder bound to its source. */
  net: StepModel;
  /** The ids the step loop starts from: the prompt's, or the decoder's start token. */
  ids: number[];
  /** An encoder-decoder's source ids (the prompt, what the encoder read); null for a decoder-only model. */
  sourceIds: number[] | null;
  /** Milliseconds the encoder took (0 for a decoder-only model). */
  encodeMs: number;
}

/**
 * The one place a prompt becomes the step loop's input, for generate, the trace and the server: a
 * decoder-only model continues the prompt; an encoder-decoder reads the prompt as its source once (the
 * encoder; `encoderTap` records its layers) and its decoder writes from the start token.
 */
export function stepInput(
  ctx: GenerationContext,
  prompt: string | ArrayLike<number>,
  encoderTap: ((l: number) => LayerTap | null) | null = null,
): StepInput {
  const { seq2seq } = ctx;
  const promptIds = encodePrompt(ctx, prompt);
  if (!seq2seq) return { net: ctx.decoder, ids: promptIds, sourceIds: null, encodeMs: 0 };
  const t0 = performance.now();
  const source = seq2seq.encode(promptIds, encoderTap);
  const encodeMs = performance.now() - t0;
  return { net: seq2seq.bind(source), ids: [seq2seq.decoderStartTokenId], sourceIds: promptIds, encodeMs };
}

export function generate(
  ctx: GenerationContext,
  prompt: string | ArrayLike<number>,
  options: GenerateOptions = {},
): Generation {
  const sampler = new Sampler(options);
  const { tokenizer } = ctx;
  // an encoder-decoder reads the prompt once (the encoder) and writes from its start token
  const { net, ids: promptIds, sourceIds } = stepInput(ctx, prompt);
  let prefillMs = 0;
  // The stop rules, the context check and the text with its stop strings are the step loop's (steps.ts).
  const steps = generationSteps(net, tokenizer, promptIds, {
    sampler,
    maxTokens: options.maxTokens ?? 128,
    stopAtEos: options.stopAtEos,
    stop: options.stop,
    signal: options.signal,
    text: true,
    noRepeatNgramSize: options.noRepeatNgramSize,
    beams:
      options.numBeams !== undefined
        ? {
            numBeams: options.numBeams,
            lengthPenalty: options.lengthPenalty,
            earlyStopping: options.earlyStopping,
            numReturnSequences: options.numReturnSequences,
          }
        : undefined,
    onPrefill: (_, ms) => (prefillMs = ms),
  });
  let resolve!: (r: GenerationResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<GenerationResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => {}); // the iterator rethrows; an unobserved `result` must not crash the process

  async function* run(): AsyncGenerator<string> {
    let ids: number[] = [];
    let text = '';
    const t0 = performance.now();
    let r: IteratorResult<GenerationStep, StepsEnd>;
    try {
      for (;;) {
        // Lets timers, I/O and key presses (Ctrl-C, the signal) run between tokens: forward() is synchronous.
        if (options.signal) await nextTurn();
        r = steps.next();
        if (r.done) break;
        const step = r.value;
        if (step.stop !== 'eos') ids.push(step.id);
        if (step.text) {
          text += step.text;
          yield step.text;
        }
      }
    } finally {
      steps.return({ stop: 'aborted', rest: '' }); // a caller that stops iterating frees the KV cache now
    }
    if (r.value.rest) {
      text += r.value.rest;
      yield r.value.rest;
    }
    const sequences = r.value.hypotheses?.map((h): GeneratedSequence => ({
      ids: h.stop === 'eos' ? h.ids.slice(0, -1) : h.ids,
      text: h.text,
      logprob: h.logprob,
      score: h.score,
      stopReason: h.stop as StopReason,
    }));
    if (sequences) {
      // beam search: the best hypothesis, whole
      ({ ids, text } = sequences[0]);
      if (text) yield text;
    }
    resolve({
      sequences,
      promptIds: sourceIds ?? promptIds,
      ids,
      text,
      stopReason: r.value.stop,
      prefillSeconds: prefillMs / 1000,
      decodeSeconds: (performance.now() - t0 - prefillMs) / 1000,
    });
  }

  const iterable: Generation = {
    result,
    async *[Symbol.asyncIterator]() {
      try {
        yield* run();
      } catch (e) {
        reject(e);
        throw e;
      }
    },
  };
  return iterable;
}
