// Streaming generation for the explorer: the steps model.trace({ steps }) records (the same step loop,
// src/generate/steps.ts, and the same TraceStep), yielded one at a time with a turn of the event loop
// before each, so the server can send each token's attention row as soon as it exists.
// Browser-safe: the in-page engine (web/src/engine/worker.ts) streams the same steps.
import { encodePrompt } from '../generate/generate.js';
import { generationSteps, nextTurn } from '../generate/steps.js';
import type { LanguageModel } from '../models/model.js';
import type { TraceStep } from '../trace/schema.js';
import { recording, traceStep, type StepRecording } from '../trace/trace.js';

/** The body of /api/generate less its prompt: model.trace's step options, `steps` required. */
export type StepOptions = StepRecording & { steps: number };

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
  const { digits, topK, loop } = recording(d, o);
  const ids = encodePrompt({ decoder: d, tokenizer: tok, addBos: model.addBos }, prompt);
  // an encoder-decoder translates the prompt: encoded once, then its decoder steps from its start token
  const s2s = model.seq2seq;
  const steps = s2s
    ? generationSteps(s2s.bind(s2s.encode(ids)), tok, [s2s.decoderStartTokenId], loop)
    : generationSteps(d, tok, ids, loop);
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
