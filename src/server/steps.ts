// Streaming generation for the explorer: the steps model.trace({ steps }) records (the same step loop,
// src/generate/steps.ts, and the same TraceStep), yielded one at a time with a turn of the event loop
// before each, so the server can send each token's attention row as soon as it exists.
// Browser-safe: the in-page engine (web/src/engine/worker.ts) streams the same steps.
import { encodePrompt } from '../generate/generate.js';
import { checkLayers, generationSteps, nextTurn, traceSampler } from '../generate/steps.js';
import type { LanguageModel } from '../models/model.js';
import { StepRecorder } from '../trace/recorder.js';
import type { TraceStep } from '../trace/schema.js';
import { traceStep } from '../trace/trace.js';

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
  /** Stop after a sampled end-of-text step (default true). */
  stopAtEos?: boolean;
  /** Stop at the step whose text completes one of these strings. */
  stop?: string[];
}

/**
 * Generates `steps` tokens after `prompt` (text, or ids as encodePrompt gives them), yielding each as a
 * TraceStep. Checks the request before the first token (so a caller can still answer 400): context
 * length, forced ids, layers.
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
  const layers = o.layers ?? Array.from({ length: d.nLayers }, (_, l) => l);
  checkLayers(d, layers);
  const wanted = new Set(layers);
  const ids = encodePrompt({ decoder: d, tokenizer: tok, addBos: model.addBos }, prompt);
  const steps = generationSteps(d, tok, ids, {
    sampler: traceSampler(o.temperature, o.seed),
    maxTokens: Math.max(o.steps, o.forced?.length ?? 0),
    forced: o.forced,
    stopAtEos: o.stopAtEos,
    stop: o.stop,
    fitAll: true,
    feedAll: true,
    stepRecorder: () => new StepRecorder(wanted, digits),
  });
  async function* run(): AsyncGenerator<TraceStep> {
    try {
      for (;;) {
        await nextTurn();
        const r = steps.next();
        if (r.done) return;
        yield traceStep(tok, r.value, topK, digits);
      }
    } finally {
      steps.return({ stop: 'aborted', rest: '' }); // a client that goes away frees the KV cache now
    }
  }
  return run();
}
