// Continuous batching: every sequence being generated (each choice of each /v1 request) advances by one
// token per tick, and a tick runs ONE forward for all of them (Decoder.forwardBatch: each sequence its
// own KV cache and positions, the weights read once). A sequence that arrives while others generate joins
// at the next tick: its prompt pass runs in that same forward (forwardBatch takes mixed lengths).
//
//   tick:  items = [prompt ids of newcomers | the last chosen id of the others]
//          rows  = forwardBatch(items)                        [sequences, vocab]
//          each sequence: its step loop (src/generate/steps.ts, `external` feed) chooses from its row
//          — the same sampler and stop rules as every other caller — and says whether it goes on.
//
// An encoder-decoder's sequence (Marian: /v1/completions translating its prompt) brings its own step model,
// the decoder bound to its encoded source (Seq2Seq.bind): sources differ between requests, so such a
// sequence runs its own forward in the tick, one after the other, not batched with the rest.
//
// Who may start (slots, the bounded queue, 429 / 503, memory) is admission.ts's business: the server
// asks it before submitting, so this runs what it is given. A sequence whose signal aborts (its client
// went away, the server is shutting down) leaves the batch at the next tick; its KV cache is released
// there, as it is when a sequence ends.
import {
  generationSteps,
  nextTurn,
  type GenerationStep,
  type StepLoopOptions,
  type StepModel,
  type StepsEnd,
} from '../generate/steps.js';
import type { Decoder } from '../models/decoder.js';
import type { KVCache } from '../nn/kv-cache.js';
import { backend } from '../tensor/active.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/** A batch that starts from idle waits this long for each further request of a burst (ms)… */
const GATHER_MS = 2;
/** …and this long at most. */
const GATHER_MAX_MS = 10;

/** One sequence to generate. */
export interface SequenceRequest {
  /** The prompt, as ids (BOS included where the model wants it). */
  ids: readonly number[];
  /** The step loop's options (sampler, stop rules, text), less the feed, which is the batch's. */
  loop: Omit<StepLoopOptions, 'external' | 'promptRecorder' | 'stepRecorder' | 'onPrefill'>;
  /** Each step as it is taken, with the row of logits [vocab] it was chosen from (copy what you keep). */
  onStep: (step: GenerationStep, logits: Float32Array) => void;
  /** Once: how the sequence ended, or the error that ended it. */
  onEnd: (end: StepsEnd | { stop: 'error'; error: unknown }) => void;
  /** Aborting ends the sequence at the next tick ('aborted'). */
  signal?: AbortSignal;
  /**
   * Its own step model instead of the batch's decoder (an encoder-decoder bound to its source): its
   * forward runs alone, after the batched one; ids are then the decoder's (its start token).
   */
  model?: StepModel;
}

interface Sequence {
  req: SequenceRequest;
  steps: Generator<GenerationStep, StepsEnd, Float32Array | undefined>;
  cache: KVCache;
  /** What the next forward runs for it: the prompt, then the last chosen id. */
  feed: readonly number[];
  started: boolean;
  /** The prompt pass's row, handed to the loop through its `external.prefill`. */
  prefill: Float32Array | null;
}

export interface BatchStats {
  /** Sequences in the batch now. */
  active: number;
  /** Ticks (batched forwards) run so far, and sequences over them (their mean is the batch size). */
  ticks: number;
  sequenceSteps: number;
  /** The largest batch seen. */
  maxBatch: number;
}

export class Batcher {
  private readonly running: Sequence[] = [];
  private loop: Promise<void> | null = null;
  /** The batched forward's logits [sequences, vocab], reused tick after tick (grown with the batch). */
  private logits: Float32Array = new Float32Array(0);
  readonly stats: BatchStats = { active: 0, ticks: 0, sequenceSteps: 0, maxBatch: 0 };

  constructor(
    readonly decoder: Decoder,
    readonly tokenizer: Tokenizer,
    /** Called with every error that ends a sequence (for the server's log). */
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  get active(): number {
    return this.running.length;
  }

  /**
   * Adds a sequence; it joins the batch at the next tick. Throws at once (a GlassError) when the request
   * is bad — the step loop's checks: max tokens, the prompt against the context — so the caller can answer 400.
   */
  submit(req: SequenceRequest): void {
    const seq: Sequence = {
      req,
      steps: null!,
      cache: null!,
      feed: req.ids,
      started: false,
      prefill: null,
    };
    const model = req.model ?? this.decoder;
    seq.steps = generationSteps(model, this.tokenizer, req.ids, {
      ...req.loop,
      signal: undefined, // the batch checks the signal itself, before the forward
      external: { prefill: () => seq.prefill! },
    });
    seq.cache = model.newCache();
    this.running.push(seq);
    this.stats.active = this.running.length;
    this.loop ??= this.run().finally(() => {
      this.loop = null;
    });
  }

  /** Resolves when the batch is empty. */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  private finish(seq: Sequence, end: StepsEnd | { stop: 'error'; error: unknown }): void {
    const i = this.running.indexOf(seq);
    if (i >= 0) this.running.splice(i, 1);
    this.stats.active = this.running.length;
    seq.cache.release();
    if (end.stop !== 'error') {
      try {
        seq.steps.return(end);
      } catch {
        // the loop's own cleanup has nothing to release here
      }
    }
    try {
      seq.req.onEnd(end);
    } catch (e) {
      this.onError(e);
    }
  }

  private async run(): Promise<void> {
    // From idle, wait for the rest of a burst (requests sent together: a client's concurrent calls, the
    // n choices of one) while they keep coming, each within GATHER_MS of the last, GATHER_MAX_MS at most:
    // their prompt passes then run in one forward. Started at once, each newcomer's prompt pass would be
    // a tick of its own that every stream already running waits through (GPT-2 124M, 4 streams of 16
    // prompt tokens: four ~55 ms passes one after the other, where one of 64 rows takes ~160 ms).
    const until = performance.now() + GATHER_MAX_MS;
    for (let seen = -1; seen !== this.running.length && performance.now() < until;) {
      seen = this.running.length;
      await new Promise((resolve) => setTimeout(resolve, GATHER_MS));
    }
    while (this.running.length > 0) {
      await nextTurn(); // let requests arrive, streams flush and clients go away between ticks
      for (const seq of this.running.slice()) {
        if (seq.req.signal?.aborted) this.finish(seq, { stop: 'aborted', rest: '' });
      }
      if (this.running.length === 0) break;
      // the decoder's sequences in one batched forward; those with their own model one forward each
      const batch = this.running.filter((s) => !s.req.model);
      const alone = this.running.filter((s) => s.req.model);
      const rows: Array<Float32Array | null> = [];
      try {
        if (batch.length > 0) {
          const V = this.decoder.vocabSize;
          if (this.logits.length < batch.length * V) {
            // in the backend's memory (wasm: greedy's argmax reads the rows in place)
            backend().freeActivations(this.logits);
            this.logits = backend().allocActivations(batch.length * V);
          }
          const all = this.decoder.forwardBatch(
            batch.map((s) => ({ ids: s.feed, cache: s.cache })),
            null,
            this.logits.subarray(0, batch.length * V),
          );
          // [vocab] each: views of this tick's logits (the step loop chooses from its row within the tick)
          batch.forEach((_, i) => rows.push(all.subarray(i * V, (i + 1) * V)));
        }
      } catch (e) {
        // a failure of the forward itself (out of memory…) ends every sequence in it
        this.onError(e);
        for (const seq of batch) this.finish(seq, { stop: 'error', error: e });
        batch.length = 0;
      }
      for (const seq of alone) {
        try {
          rows.push(seq.req.model!.forward(seq.feed, seq.cache, true)); // [vocab]
        } catch (e) {
          this.onError(e);
          this.finish(seq, { stop: 'error', error: e });
          rows.push(null);
        }
      }
      const stepped = [...batch, ...alone];
      if (stepped.length === 0) continue;
      this.stats.ticks++;
      this.stats.sequenceSteps += stepped.length;
      this.stats.maxBatch = Math.max(this.stats.maxBatch, batch.length);
      stepped.forEach((seq, i) => {
        const row = rows[i];
        if (!row) return; // its forward failed: ended above
        try {
          let r: IteratorResult<GenerationStep, StepsEnd>;
          if (seq.started) r = seq.steps.next(row);
          else {
            seq.started = true;
            seq.prefill = row;
            r = seq.steps.next();
          }
          if (r.done) return this.finish(seq, r.value);
          const step = r.value;
          seq.req.onStep(step, row);
          if (step.stop) {
            const end = seq.steps.next();
            this.finish(seq, end.done ? end.value : { stop: step.stop, rest: '' });
          } else seq.feed = [step.id];
        } catch (e) {
          this.onError(e);
          this.finish(seq, { stop: 'error', error: e });
        }
      });
    }
  }
}
