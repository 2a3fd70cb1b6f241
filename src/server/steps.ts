// Streaming generation for the explorer: the same steps as model.trace({ steps }) records (same
// sampler, same forced-token rule, same StepRecorder), but yielded one at a time with a turn of the
// event loop between them, so the server can send each token's attention row as soon as it exists.
// Browser-safe: the in-page engine (web/src/engine/worker.ts) streams the same steps.
import { encodePrompt } from '../generate/generate.js';
import { Sampler } from '../generate/sampler.js';
import type { LanguageModel } from '../models/model.js';
import type { KVCache } from '../nn/kv-cache.js';
import { StepRecorder, pieceText, topTokens } from '../trace/recorder.js';
import type { TraceStep } from '../trace/schema.js';
import { GlassError } from '../util/errors.js';

export interface StepOptions {
  /** How many tokens to generate (the first forced.length of them are the forced ones). */
  steps: number;
  /** 0 or absent: greedy (as model.trace). */
  temperature?: number;
  seed?: number;
  forced?: number[];
  /** Candidates recorded per step (default 10). */
  topK?: number;
  /** Significant digits (default 5). */
  precision?: number;
  /** Layers whose attention rows are recorded (default all). */
  layers?: number[];
  /** Stop after the end-of-text token has been produced (default true). */
  stopAtEos?: boolean;
}

/** A turn of the event loop: setImmediate in Node; a browser worker (the in-page engine) has setTimeout. */
export const nextTurn = () =>
  new Promise<void>((resolve) =>
    typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0),
  );

/**
 * Generates `steps` tokens after `prompt` (text, or ids as encodePrompt gives them), yielding each as a TraceStep. Checks the request before the
 * first token (so a caller can still answer 400): context length, forced ids, layers.
 */
export function traceSteps(
  model: LanguageModel,
  prompt: string | ArrayLike<number>,
  o: StepOptions,
): AsyncGenerator<TraceStep> {
  const d = model.decoder;
  const tok = model.tokenizer;
  const digits = o.precision ?? 5;
  const topK = o.topK ?? 10;
  const nSteps = Math.max(o.steps, o.forced?.length ?? 0);
  const layers = o.layers ?? Array.from({ length: d.nLayers }, (_, l) => l);
  for (const l of layers) {
    if (!(Number.isInteger(l) && l >= 0 && l < d.nLayers))
      throw new GlassError(
        'BAD_INPUT',
        `layer ${l} does not exist (the model has layers 0..${d.nLayers - 1})`,
      );
  }
  for (const id of o.forced ?? []) {
    if (!(Number.isInteger(id) && id >= 0 && id < d.vocabSize))
      throw new GlassError(
        'BAD_INPUT',
        `forced token ${id} is not in the vocabulary (0..${d.vocabSize - 1})`,
      );
  }
  const ids = encodePrompt({ decoder: d, tokenizer: tok, addBos: model.addBos }, prompt);
  if (ids.length + nSteps > d.contextLength) {
    throw new GlassError(
      'BAD_INPUT',
      `${ids.length} prompt tokens + ${nSteps} steps exceed the model's context length ${d.contextLength}`,
    );
  }
  const wanted = new Set(layers);
  const sampler = new Sampler(
    o.temperature === undefined || o.temperature === 0
      ? { greedy: true }
      : { temperature: o.temperature, seed: o.seed },
  );
  const eos = tok.specialTokens.eos;
  const stopAtEos = o.stopAtEos ?? true;

  async function* run(): AsyncGenerator<TraceStep> {
    const cache = d.newCache();
    try {
      yield* steps(cache);
    } finally {
      cache.release(); // now, not when collected (the wasm backend's copy of it too)
    }
  }
  async function* steps(cache: KVCache): AsyncGenerator<TraceStep> {
    let logits = d.forward(ids, cache, true);
    for (let s = 0; s < nSteps; s++) {
      await nextTurn();
      const id = o.forced?.[s] ?? sampler.sample(logits);
      const rec = new StepRecorder(wanted, digits);
      const position = cache.length;
      logits = d.forward([id], cache, true, rec);
      const step: TraceStep = {
        token: { id, text: pieceText(tok, id), start: 0, end: 0 },
        position,
        attention: rec.attention,
        output: { position, top: topTokens(tok, logits, topK, digits) },
      };
      yield step;
      if (stopAtEos && id === eos && s >= (o.forced?.length ?? 0)) return;
    }
  }
  return run();
}
