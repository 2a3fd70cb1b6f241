// The step loop: the one place where generation steps are taken and generation is stopped. `generate`
// (text), `model.trace` (recorded steps) and the server's /api/generate stream (the same steps, one
// NDJSON line each, and the in-page engine) all run `generationSteps`; beam search and batched serving
// are meant to run it too (`feed` is the model step, `choose` the decision, kept apart for that).
//
// One generation, step by step:
//   prefill      logits = forward(prompt ids)                  [vocab] (the last position's row)
//   step s       id = forced[s] ?? sampler(logits)             the chosen token, at position P + s
//                text = detokenize(id)                         only when text is wanted (or stop strings)
//                logits = forward([id])                        [vocab], the distribution for step s + 1
//
// Semantics, the same for every caller:
// - Forced ids (validated once, here, before anything runs) are the first steps; a forced id never stops
//   generation, end-of-text included. `maxTokens` counts them: max(steps, forced.length) is the caller's.
// - End-of-text: a sampled end-of-text is the last step (it is yielded, with stop 'eos') unless the
//   caller opts out with stopAtEos: false. `generate` leaves it out of its ids and text.
// - Stop strings: the step whose text completes one is the last (stop 'stop'); its `text` is what comes
//   before the stop string. Text that may begin a stop string is held back until it cannot.
// - Context: a step needs a position < contextLength; when none is left generation ends ('context').
//   `fitAll` (trace, server) refuses up front a prompt + maxTokens that cannot fit; otherwise the prompt
//   only needs room for one token.
// - Max tokens ends after maxTokens steps ('max-tokens'); an aborted signal before the next step
//   ('aborted'): the loop is synchronous, so an async caller awaits `nextTurn()` between steps.
// - A chosen token is fed to the model (its attention row recorded, the next distribution computed) when
//   generation goes on after it, or always with feedAll (trace, server: the last step has its row too).
// Nothing is allocated per step unless asked for (a recorder, text, the chosen token's probability): the
// yielded step is one object, updated in place; copy what you keep.
import type { Decoder, ForwardRecorder } from '../models/decoder.js';
import type { KVCache } from '../nn/kv-cache.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';
import { softmax, type Sampler } from './sampler.js';

export type StopReason = 'eos' | 'stop' | 'max-tokens' | 'context' | 'aborted';

/** When generation stops: decided here for every caller. */
export interface StopRules {
  /** Most steps (forced ones included). */
  maxTokens: number;
  /** Stop after a sampled end-of-text token (default true). */
  stopAtEos?: boolean;
  /** Stop as soon as any of these strings appears in the text (the stop string itself is not emitted). */
  stop?: readonly string[];
  signal?: AbortSignal;
}

export interface StepLoopOptions extends StopRules {
  sampler: Sampler;
  /** Token ids to take as the first steps instead of sampling. */
  forced?: readonly number[];
  /** Refuse up front a prompt + maxTokens over the context length (else the prompt needs room for 1). */
  fitAll?: boolean;
  /** Feed the last chosen token too (its attention row and the distribution after it). */
  feedAll?: boolean;
  /** Detokenize the steps (step.text); implied by stop strings. */
  text?: boolean;
  /** Record the chosen token's probability (step.prob; costs a softmax per step). */
  prob?: boolean;
  /** A recorder for the prompt pass (all rows are then computed, the last one sampled from). */
  promptRecorder?: ForwardRecorder;
  /** A fresh recorder for each step's forward (step.recorder). */
  stepRecorder?: () => ForwardRecorder;
  /** Called once, after the prompt pass: the last row of logits [vocab] and how long it took. */
  onPrefill?: (logits: Float32Array, ms: number) => void;
}

/** One step; the same object each time, updated in place. */
export interface GenerationStep {
  /** 0, 1, 2, … */
  index: number;
  /** The chosen token and where it sits in the sequence. */
  id: number;
  position: number;
  forced: boolean;
  /** Its logit in the distribution it was chosen from; its probability when `prob` was asked for. */
  logit: number;
  prob: number;
  /** The distribution after it, logits [vocab]: undefined when it was not fed (the last step). */
  next: Float32Array | undefined;
  /** The recorder its forward ran with (stepRecorder), else undefined. */
  recorder: ForwardRecorder | undefined;
  /** Text released by this step ('' without `text`). */
  text: string;
  /** Set on the last step: why generation ends after it. */
  stop: StopReason | undefined;
}

/**
 * What the loop steps through: a decoder, or an encoder-decoder's decoder bound to its encoded source
 * (Seq2Seq.bind) — forward(ids, cache, lastOnly, recorder) → logits either way.
 */
export type StepModel = Pick<Decoder, 'forward' | 'newCache' | 'vocabSize' | 'contextLength'>;

/** How the loop ended: the reason, and the text held back until then (empty after a stop string). */
export interface StepsEnd {
  stop: StopReason;
  rest: string;
}

/** A turn of the event loop: setImmediate in Node; a browser worker (the in-page engine) has setTimeout. */
export const nextTurn = () =>
  new Promise<void>((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  );

/** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
function heldBack(text: string, stops: readonly string[]): number {
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

/**
 * The steps of one generation after `promptIds`. Checks the request at once (so a server can still answer
 * 400): max tokens, forced ids, context length. The prompt pass runs at the first next(); the KV cache is
 * released when the loop ends or is abandoned.
 */
export function generationSteps(
  d: StepModel,
  tok: Tokenizer,
  promptIds: readonly number[],
  o: StepLoopOptions,
): Generator<GenerationStep, StepsEnd> {
  const { maxTokens } = o;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0))
    throw new GlassError('BAD_INPUT', `max-tokens must be an integer >= 0, got ${maxTokens}`);
  const forced = o.forced ?? [];
  for (const id of forced) {
    if (!(Number.isInteger(id) && id >= 0 && id < d.vocabSize))
      throw new GlassError(
        'BAD_INPUT',
        `forced token ${id} is not in the vocabulary (0..${d.vocabSize - 1})`,
      );
  }
  const P = promptIds.length;
  if (o.fitAll && P + maxTokens > d.contextLength)
    throw new GlassError(
      'BAD_INPUT',
      `${P} prompt tokens + ${maxTokens} steps exceed the model's context length ${d.contextLength}`,
    );
  if (!o.fitAll && P >= d.contextLength)
    throw new GlassError(
      'BAD_INPUT',
      `the prompt is ${P} tokens, but the model's context length is ${d.contextLength} ` +
        `(it needs room for at least one new token); shorten the prompt`,
    );
  const run = function* (): Generator<GenerationStep, StepsEnd> {
    const cache = d.newCache();
    try {
      return yield* loop(cache);
    } finally {
      cache.release(); // now, not when collected (the wasm backend's copy of it too)
    }
  };
  const loop = function* (cache: KVCache): Generator<GenerationStep, StepsEnd> {
    const stops = (o.stop ?? []).filter((s) => s.length > 0);
    const wantText = o.text === true || stops.length > 0;
    const eos = tok.specialTokens.eos;
    const stopAtEos = o.stopAtEos !== false;
    const detok = wantText ? tok.decoder() : null;
    if (detok) {
      // Prime the decoder with the prompt's last token (its text is already shown) so it knows what the
      // new text continues: SentencePiece, for one, drops the dummy-prefix space only right after BOS.
      detok.push(promptIds[P - 1]);
      detok.flush();
    }
    let pending = '';
    // the end: what is held back is released, except after a stop string (it ends the text)
    const end = (stop: StopReason): StepsEnd => ({
      stop,
      rest: stop === 'stop' ? '' : pending + (detok?.flush() ?? ''),
    });
    // prefill: logits [vocab] of the last prompt position (all rows [P × vocab] when recorded)
    const t0 = performance.now();
    let logits = o.promptRecorder
      ? d.forward(promptIds, cache, false, o.promptRecorder).subarray((P - 1) * d.vocabSize)
      : d.forward(promptIds, cache, true);
    o.onPrefill?.(logits, performance.now() - t0);
    const step: GenerationStep = {
      index: 0,
      id: 0,
      position: P,
      forced: false,
      logit: 0,
      prob: 0,
      next: undefined,
      recorder: undefined,
      text: '',
      stop: undefined,
    };
    for (let s = 0; ; s++) {
      // the stop rules checked before a step: count, context, abort
      if (s >= maxTokens) return end('max-tokens');
      if (P + s >= d.contextLength) return end('context');
      if (o.signal?.aborted) return end('aborted');
      // choose: forced, else sampled from logits [vocab]
      const isForced = s < forced.length;
      const id = isForced ? forced[s] : o.sampler.sample(logits);
      step.index = s;
      step.id = id;
      step.position = P + s;
      step.forced = isForced;
      step.logit = logits[id];
      if (o.prob) step.prob = softmax(logits)[id];
      step.stop = undefined;
      step.text = '';
      if (!isForced && stopAtEos && id === eos) step.stop = 'eos';
      else if (detok) {
        // text: release what can no longer begin a stop string; a stop string ends it just before
        pending += detok.push(id);
        let hit = -1;
        for (const st of stops) {
          const i = pending.indexOf(st);
          if (i >= 0 && (hit < 0 || i < hit)) hit = i;
        }
        if (hit >= 0) {
          step.text = pending.slice(0, hit);
          pending = '';
          step.stop = 'stop';
        } else {
          const release = pending.length - heldBack(pending, stops);
          step.text = pending.slice(0, release);
          pending = pending.slice(release);
        }
      }
      if (!step.stop && s + 1 >= maxTokens) step.stop = 'max-tokens';
      else if (!step.stop && P + s + 1 >= d.contextLength) step.stop = 'context';
      // feed: logits = forward([id]) [vocab], the distribution for the next step
      step.recorder = o.stepRecorder?.();
      step.next = undefined;
      if (!step.stop || o.feedAll) {
        logits = d.forward([id], cache, true, step.recorder ?? null);
        step.next = logits;
      }
      yield step;
      if (step.stop) return end(step.stop);
    }
  };
  return run();
}
