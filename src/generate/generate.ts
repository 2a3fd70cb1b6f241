// Stage 7, repeated — the response: prompt → ids → forward (filling the KV cache) → sample → feed the
// new token back → … streaming text as soon as whole characters are known.
import type { Decoder } from '../models/decoder.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';
import { Sampler, type SamplingOptions } from './sampler.js';

export interface GenerateOptions extends SamplingOptions {
  /** Most new tokens to produce (default 128). */
  maxTokens?: number;
  /** Stop as soon as any of these strings appears; the stop string itself is not emitted. */
  stop?: string[];
  /** Stop at the end-of-text token (default true). */
  stopAtEos?: boolean;
  signal?: AbortSignal;
}

export type StopReason = 'eos' | 'stop' | 'max-tokens' | 'context' | 'aborted';

export interface GenerationResult {
  promptIds: number[];
  /** Ids of the generated tokens (excluding a final end-of-text). */
  ids: number[];
  text: string;
  stopReason: StopReason;
  /** Seconds spent on the prompt (prefill) and on generating (decode). */
  prefillSeconds: number;
  decodeSeconds: number;
}

/** An async iterable of text pieces; `result` settles when the iteration ends. */
export interface Generation extends AsyncIterable<string> {
  readonly result: Promise<GenerationResult>;
}

export interface GenerationContext {
  decoder: Decoder;
  tokenizer: Tokenizer;
  /** Prepend BOS to prompts (SentencePiece models); GPT-2 does not. */
  addBos: boolean;
}

/** Lets timers, I/O and key presses (Ctrl-C) run between tokens: the forward pass itself is synchronous. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  );
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
function heldBack(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(s.slice(0, n))) {
        keep = n;
        break;
      }
    }
  }
  return keep;
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

export function generate(
  ctx: GenerationContext,
  prompt: string | ArrayLike<number>,
  options: GenerateOptions = {},
): Generation {
  const maxTokens = options.maxTokens ?? 128;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) {
    throw new GlassError('BAD_INPUT', `max-tokens must be an integer >= 0, got ${options.maxTokens}`);
  }
  const sampler = new Sampler(options);
  const stops = (options.stop ?? []).filter((s) => s.length > 0);
  const { decoder: net, tokenizer } = ctx;
  const promptIds = encodePrompt(ctx, prompt);
  if (promptIds.length >= net.contextLength) {
    throw new GlassError(
      'BAD_INPUT',
      `the prompt is ${promptIds.length} tokens, but the model's context length is ${net.contextLength} ` +
        `(it needs room for at least one new token); shorten the prompt`,
    );
  }
  let resolve!: (r: GenerationResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<GenerationResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  result.catch(() => {}); // the iterator rethrows; an unobserved `result` must not crash the process

  async function* run(): AsyncGenerator<string> {
    const eos = tokenizer.specialTokens.eos;
    const cache = net.newCache();
    const ids: number[] = [];
    const detok = tokenizer.decoder();
    // Prime the decoder with the prompt's last token (its text is already shown) so it knows what the
    // new text continues: SentencePiece, for one, drops the dummy-prefix space only right after BOS.
    detok.push(promptIds[promptIds.length - 1]);
    detok.flush();
    let text = '';
    let pending = '';
    let stopReason: StopReason = 'max-tokens';
    const t0 = performance.now();
    let logits = net.forward(promptIds, cache, true);
    const t1 = performance.now();
    while (true) {
      if (ids.length >= maxTokens) break;
      if (options.signal) await yieldToEventLoop();
      if (options.signal?.aborted) {
        stopReason = 'aborted';
        break;
      }
      const id = sampler.sample(logits);
      if (id === eos && options.stopAtEos !== false) {
        stopReason = 'eos';
        break;
      }
      ids.push(id);
      pending += detok.push(id);
      const hit = stops.length
        ? Math.min(...stops.map((s) => pending.indexOf(s)).filter((i) => i >= 0))
        : Infinity;
      if (Number.isFinite(hit)) {
        const piece = pending.slice(0, hit);
        text += piece;
        pending = '';
        if (piece) yield piece;
        stopReason = 'stop';
        break;
      }
      const release = pending.length - heldBack(pending, stops);
      if (release > 0) {
        const piece = pending.slice(0, release);
        pending = pending.slice(release);
        text += piece;
        yield piece;
      }
      if (ids.length >= maxTokens) break;
      // The sequence may fill the context exactly; one more token would have no position to sit at.
      if (promptIds.length + ids.length >= net.contextLength) {
        stopReason = 'context';
        break;
      }
      logits = net.forward([id], cache, true);
    }
    if (stopReason !== 'stop') {
      const rest = pending + detok.flush();
      if (rest) {
        text += rest;
        yield rest;
      }
    }
    const t2 = performance.now();
    resolve({
      promptIds,
      ids,
      text,
      stopReason,
      prefillSeconds: (t1 - t0) / 1000,
      decodeSeconds: (t2 - t1) / 1000,
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
