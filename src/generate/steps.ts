// The step loop: the one place where generation steps are taken and generation is stopped. `generate`
// (text), `model.trace` (recorded steps) and the server's /api/generate stream (the same steps, one
// NDJSON line each, and the in-page engine) all run `generationSteps`, and so does beam search (`beams`):
// the prompt pass, forced ids and stop rules are the same; only `choose` and `feed` differ — one sampled
// token fed to one cache, or beam.ts's decision over numBeams sequences fed in one batched forward.
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
// - Beam search (beams.numBeams > 1): after the forced ids, each step scores 2·numBeams candidates and
//   every candidate meets the same stop rules (end-of-text, stop strings, max tokens, context); one that
//   hits one ends its hypothesis (beam.ts says which are kept). Each step is yielded with its candidates
//   (step.beam; step.id is the best candidate's), no text: the hypotheses are known only at the end
//   (StepsEnd.hypotheses, best first). `noRepeatNgramSize` bans repeated n-grams in both modes.
// Nothing is allocated per step unless asked for (a recorder, text, the chosen token's probability): the
// yielded step is one object, updated in place; copy what you keep.
import type { Decoder, ForwardRecorder } from '../models/decoder.js';
import type { KVCache } from '../nn/kv-cache.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';
import {
  BeamScorer,
  NOT_STARTED,
  bannedByNgram,
  stepBeamModel,
  logSoftmax,
  topCandidates,
  validateBeams,
  type BeamCandidate,
  type BeamOptions,
  type Hypothesis,
} from './beam.js';
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
  /** Chooses each token (unused by beam search). */
  sampler: Sampler;
  /** Beam search instead of sampling when numBeams > 1 (recorders and text steps are not supported). */
  beams?: BeamOptions;
  /** Never repeat an n-gram of this size (prompt included, as HF); 0 = off. */
  noRepeatNgramSize?: number;
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
  /**
   * The caller runs the model (a batched driver: src/server/batch.ts runs one forward for many loops).
   * The loop then makes no KV cache and calls no forward: `prefill()` gives the prompt pass's last row
   * of logits [vocab]; after each yielded step that goes on, the caller feeds step.id and passes the next
   * row to next(row) (step.next stays undefined). Recorders are not called; no beam search.
   */
  external?: { prefill: () => Float32Array };
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
  /** Beam search: this step's candidates (best first) and what became of each. */
  beam: BeamCandidate[] | undefined;
}

/**
 * What the loop steps through: a decoder, or an encoder-decoder's decoder bound to its encoded source
 * (Seq2Seq.bind) — forward(ids, cache, lastOnly, recorder) → logits either way.
 */
export type StepModel = Pick<Decoder, 'forward' | 'newCache' | 'vocabSize' | 'contextLength'> &
  /** Several sequences in one pass (beam search runs its beams so; without it, one forward each). */
  Partial<Pick<Decoder, 'forwardBatch'>>;

/** How the loop ended: the reason, and the text held back until then (empty after a stop string). */
export interface StepsEnd {
  stop: StopReason;
  rest: string;
  /** Beam search: the finished hypotheses, best first (numReturnSequences of them), with their text. */
  hypotheses?: Array<Hypothesis & { text: string }>;
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
): Generator<GenerationStep, StepsEnd, Float32Array | undefined> {
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
  const beams = o.beams && o.beams.numBeams > 1 ? validateBeams(o.beams) : null;
  if (beams && o.external)
    throw new GlassError('BAD_INPUT', 'beam search runs its own forwards (no external feed)');
  const ngram = o.noRepeatNgramSize ?? 0;
  if (!(Number.isInteger(ngram) && ngram >= 0))
    throw new GlassError('BAD_INPUT', `no-repeat-ngram-size must be an integer >= 0, got ${ngram}`);
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
  const model = stepBeamModel(d);
  const run = function* (): Generator<GenerationStep, StepsEnd, Float32Array | undefined> {
    if (o.external) return yield* loop(null, new Set()); // the caller's cache
    const cache = d.newCache();
    const live = new Set<KVCache>([cache]); // every cache a beam holds
    try {
      return yield* loop(cache, live);
    } finally {
      for (const c of live) c.release(); // now, not when collected (the wasm backend's copy of it too)
    }
  };
  const loop = function* (
    cache: KVCache | null,
    live: Set<KVCache>,
  ): Generator<GenerationStep, StepsEnd, Float32Array | undefined> {
    const stops = (o.stop ?? []).filter((s) => s.length > 0);
    const wantText = !beams && (o.text === true || stops.length > 0);
    const eos = tok.specialTokens.eos;
    const stopAtEos = o.stopAtEos !== false;
    const detok = wantText ? tok.decoder() : null;
    if (detok) {
      // Prime the decoder with the prompt's last token (its text is already shown) so it knows what the
      // new text continues: SentencePiece, for one, drops the dummy-prefix space only right after BOS.
      detok.push(promptIds[P - 1]);
      detok.flush();
    }
    // The stop rules of a chosen token, shared by sampling and beam search:
    /** Where the first stop string starts in `text`, or -1. */
    const stopAt = (text: string): number => {
      let hit = -1;
      for (const st of stops) {
        const i = text.indexOf(st);
        if (i >= 0 && (hit < 0 || i < hit)) hit = i;
      }
      return hit;
    };
    /** End-of-text ends generation (a sampled one: forced ids never stop it). */
    const endsText = (id: number) => stopAtEos && id === eos;
    /** After step s, no room for another: max tokens, then the context. */
    const noRoom = (s: number): StopReason | undefined =>
      s + 1 >= maxTokens ? 'max-tokens' : P + s + 1 >= d.contextLength ? 'context' : undefined;
    /** The text of generated ids after the prompt, whole (beam search: no streaming). */
    const textOf = (ids: readonly number[]): string => {
      const dt = tok.decoder();
      dt.push(promptIds[P - 1]);
      dt.flush();
      let t = '';
      for (const id of ids) t += dt.push(id);
      return t + dt.flush();
    };
    /** Beam search: the stop rule a candidate of step s meets, or undefined (`ids`: its ids, itself last). */
    const stopAfter = (s: number, id: number, ids: () => readonly number[]): StopReason | undefined =>
      endsText(id) ? 'eos' : stops.length > 0 && stopAt(textOf(ids())) >= 0 ? 'stop' : noRoom(s);
    const seq = [...promptIds]; // the sequence so far (n-gram bans; beam search's forced start)
    let stepRow: Float32Array | undefined; // the steps' logits [vocab], overwritten by each step's forward
    let pending = '';
    // beam search: the running beams (after the forced ids), the scorer
    let scorer: BeamScorer | null = null;
    let running: Array<{ ids: number[]; logprob: number; cache: KVCache; logits: Float32Array }> = [];
    // the end: what is held back is released, except after a stop string (it ends the text)
    const end = (stop: StopReason): StepsEnd => {
      if (!beams) return { stop, rest: stop === 'stop' ? '' : pending + (detok?.flush() ?? '') };
      // running beams join the hypotheses only when stopped from outside (HF's finalize)
      const hyps = scorer
        ? scorer.result(stop === 'aborted' ? running : [], stop)
        : [{ ids: seq.slice(P), logprob: 0, score: 0, stop }]; // the forced ids were all there was
      const hypotheses = hyps.map((h) => {
        const text = textOf(h.stop === 'eos' ? h.ids.slice(0, -1) : h.ids);
        const hit = stopAt(text);
        return { ...h, text: hit >= 0 ? text.slice(0, hit) : text };
      });
      return { stop: hypotheses[0].stop as StopReason, rest: '', hypotheses };
    };
    // prefill: logits [vocab] of the last prompt position (all rows [P × vocab] when recorded)
    const t0 = performance.now();
    let logits = o.external
      ? o.external.prefill()
      : o.promptRecorder
        ? d.forward(promptIds, cache!, false, o.promptRecorder).subarray((P - 1) * d.vocabSize)
        : d.forward(promptIds, cache!, true);
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
      beam: undefined,
    };
    for (let s = 0; ; s++) {
      // the stop rules checked before a step: count, context, abort
      if (s >= maxTokens) return end('max-tokens');
      if (P + s >= d.contextLength) return end('context');
      if (o.signal?.aborted) return end('aborted');
      const isForced = s < forced.length;
      if (beams && !isForced) {
        // choose: beam search (beam.ts) over the running beams; each candidate meets the stop rules
        if (!scorer) {
          scorer = new BeamScorer(beams, Math.min(maxTokens, d.contextLength - P));
          // HF's start: numBeams copies of the sequence, all but the first at -1e9 (one cache for all)
          const gen = seq.slice(P);
          running = Array.from({ length: beams.numBeams }, (_, b) => ({
            ids: gen,
            logprob: b === 0 ? 0 : NOT_STARTED,
            cache: cache!, // beam search runs its own forwards (never external)
            logits,
          }));
        }
        const rows = new Map<Float32Array, Float64Array>();
        const logp = running.map((b) => {
          let row = rows.get(b.logits);
          if (!row) {
            row = logSoftmax(b.logits);
            if (ngram > 0) for (const t of bannedByNgram([...promptIds, ...b.ids], ngram)) row[t] = -Infinity;
            rows.set(b.logits, row);
          }
          return row;
        });
        const cands: BeamCandidate[] = topCandidates(
          logp,
          running.map((b) => b.logprob),
          2 * beams.numBeams,
        ).map((c) => ({ ...c, fate: 'dropped' }));
        const idsOf = (i: number) => [...running[cands[i].parent].ids, cands[i].id];
        const stopsOf = cands.map((c, i) => stopAfter(s, c.id, () => idsOf(i)));
        const { running: next, more } = scorer.settle(cands, stopsOf, idsOf, s);
        // feed: the beams that run on, each with its parent's cache (forked when a parent has several)
        const claimed = new Set<KVCache>();
        const nextBeams = next.map((i) => {
          const c = cands[i];
          const parent = running[c.parent];
          let cc = parent.cache;
          if (claimed.has(cc)) {
            cc = model.fork(cc);
            live.add(cc);
          }
          claimed.add(cc);
          return { ids: idsOf(i), logprob: c.logprob + (stopsOf[i] ? NOT_STARTED : 0), cache: cc, logits };
        });
        for (const b of running) {
          if (!claimed.has(b.cache) && live.has(b.cache)) {
            model.release(b.cache);
            live.delete(b.cache);
          }
        }
        running = nextBeams;
        step.index = s;
        step.id = cands[0].id;
        step.position = P + s;
        step.forced = false;
        step.logit = cands[0].logprob; // (beam search: the summed log-prob)
        step.text = '';
        step.next = undefined;
        step.recorder = undefined;
        step.beam = cands;
        const done = more ? null : end('max-tokens'); // (the reason is the best hypothesis's)
        step.stop = done?.stop;
        if (more) {
          const out = model.forwardBatch(
            running.map((b) => ({ ids: [b.ids[b.ids.length - 1]], state: b.cache })),
          );
          const V = d.vocabSize;
          running.forEach((b, j) => (b.logits = out.subarray(j * V, (j + 1) * V)));
        }
        yield step;
        if (done) return done;
        continue;
      }
      // choose: forced, else sampled from logits [vocab] (n-grams that would repeat are banned)
      let from = logits;
      if (ngram > 0 && !isForced) {
        const banned = bannedByNgram(seq, ngram);
        if (banned.length > 0) {
          from = Float32Array.from(logits);
          for (const t of banned) from[t] = -Infinity;
        }
      }
      const id = isForced ? forced[s] : o.sampler.sample(from);
      if (ngram > 0 || beams) seq.push(id);
      step.index = s;
      step.id = id;
      step.position = P + s;
      step.forced = isForced;
      step.logit = logits[id];
      if (o.prob) step.prob = softmax(logits)[id];
      step.stop = undefined;
      step.text = '';
      if (!isForced && endsText(id)) step.stop = 'eos';
      else if (detok) {
        // text: release what can no longer begin a stop string; a stop string ends it just before
        pending += detok.push(id);
        const hit = stopAt(pending);
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
      step.stop ??= noRoom(s);
      step.next = undefined;
      if (o.external) {
        // the caller feeds id and gives back the next row
        const fed = yield step;
        if (step.stop) return end(step.stop);
        if (!fed) throw new GlassError('BAD_INPUT', 'generationSteps: an external feed needs next(logits)');
        logits = fed;
        continue;
      }
      // feed: logits = forward([id]) [vocab], the distribution for the next step
      step.recorder = o.stepRecorder?.();
      if (!step.stop || o.feedAll) {
        // one array for every step's row (step.next: copy what you keep), not a new one per step
        logits = d.forward(
          [id],
          cache!,
          true,
          step.recorder ?? null,
          null,
          (stepRow ??= new Float32Array(d.vocabSize)),
        );
        step.next = logits;
      }
      yield step;
      if (step.stop) return end(step.stop);
    }
  };
  return run();
}
