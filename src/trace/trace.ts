// model.trace(prompt): run the prompt once with a recorder attached (and optionally generate, recording
// each step) and return the Trace — the same code path as generation, so traced logits == untraced ones.
import { encodePrompt } from '../generate/generate.js';
import { Sampler, softmax } from '../generate/sampler.js';
import type { LanguageModel } from '../models/model.js';
import { LayerNorm } from '../nn/norm.js';
import { RotaryEmbedding } from '../nn/positional.js';
import { GlassError } from '../util/errors.js';
import { PromptRecorder, StepRecorder, pieceText, rowNorms, rowsOf, roundTo, topTokens } from './recorder.js';
import {
  TRACE_VERSION,
  type Trace,
  type TraceEmbeddings,
  type TraceModelInfo,
  type TraceOptions,
  type TraceStep,
  type TraceToken,
} from './schema.js';

export interface TraceHooks {
  /** Called as each generated step is recorded (for streaming). */
  onStep?: (step: TraceStep) => void;
}

export function modelInfo(model: LanguageModel): TraceModelInfo {
  const d = model.decoder;
  const block = d.blocks[0];
  const att = block.attention.config;
  return {
    source: model.source,
    family: (model.config as { family?: string }).family ?? model.config.modelType,
    nLayers: d.nLayers,
    nHeads: att.nHeads,
    nKvHeads: att.nKvHeads,
    headDim: att.headDim,
    dim: d.dim,
    ffnDim: block.ffn.hiddenDim,
    vocabSize: d.vocabSize,
    contextLength: d.contextLength,
    positional: d.positional ? 'learned' : 'rope',
    norm: block.norm1 instanceof LayerNorm ? 'layernorm' : 'rmsnorm',
    ffn: block.ffn.kind,
  };
}

/** Prompt tokens with byte spans; a BOS the model prepends shows as an empty span at 0. */
function promptTokens(model: LanguageModel, prompt: string, ids: number[]): TraceToken[] {
  const spans = prompt ? model.tokenizer.encodeWithSpans(prompt) : [];
  const extra = ids.length - spans.length;
  const out: TraceToken[] = [];
  for (let i = 0; i < extra; i++)
    out.push({ id: ids[i], text: model.tokenizer.idToToken(ids[i]) ?? '', start: 0, end: 0 });
  for (const s of spans) out.push({ id: s.id, text: s.text, start: s.start, end: s.end });
  return out;
}

export function traceModel(
  model: LanguageModel,
  prompt: string,
  options: TraceOptions = {},
  hooks: TraceHooks = {},
): Trace {
  const parts = traceParts(model, prompt, options, hooks);
  for (;;) {
    const r = parts.next();
    if (r.done) return r.value;
  }
}

/**
 * model.trace as a generator: it pauses after the prompt pass and after each generated step (so a server
 * can let other requests run in between) and returns the Trace.
 */
export function* traceParts(
  model: LanguageModel,
  prompt: string,
  options: TraceOptions = {},
  hooks: TraceHooks = {},
): Generator<void, Trace> {
  const d = model.decoder;
  const tok = model.tokenizer;
  const digits = options.precision ?? 5;
  const topK = options.topK ?? 10;
  const nSteps = Math.max(options.steps ?? 0, options.forced?.length ?? 0);
  const layers = options.layers ?? Array.from({ length: d.nLayers }, (_, l) => l);
  for (const l of layers) {
    if (!(Number.isInteger(l) && l >= 0 && l < d.nLayers)) {
      throw new GlassError(
        'BAD_INPUT',
        `trace: layer ${l} does not exist (the model has layers 0..${d.nLayers - 1})`,
      );
    }
  }
  const ids = encodePrompt({ decoder: d, tokenizer: tok, addBos: model.addBos }, prompt);
  if (ids.length + nSteps > d.contextLength) {
    throw new GlassError(
      'BAD_INPUT',
      `trace: ${ids.length} prompt tokens + ${nSteps} steps exceed the model's context length ${d.contextLength}`,
    );
  }
  const rows = ids.length;
  const lensRows = options.lens === 'all' ? ids.map((_, i) => i) : [rows - 1];
  const wanted = new Set(layers);
  const rec = new PromptRecorder(d, tok, {
    layers: wanted,
    topK,
    full: (options.vectors ?? 'full') === 'full',
    attention: options.attention ?? true,
    lensRows,
    digits,
  });

  const cache = d.newCache();
  const t0 = performance.now();
  const all = d.forward(ids, cache, false, rec);
  const elapsedMs = performance.now() - t0;
  const v = d.vocabSize;
  let logits = all.subarray((rows - 1) * v, rows * v);

  // Embedding stage: token vectors, and learned positions or the rotary angles.
  const dim = d.dim;
  const tv = rec.tokenVectors ?? new Float32Array(rows * dim);
  const full = (options.vectors ?? 'full') === 'full';
  const embeddings: TraceEmbeddings = { tokenNorms: rowNorms(tv, rows, dim, digits) };
  if (full) embeddings.token = rowsOf(tv, rows, dim, digits);
  if (d.positional) {
    const pv = new Float32Array(rows * dim);
    for (let i = 0; i < rows; i++) pv.set(d.positional.vector(i), i * dim);
    embeddings.positionalNorms = rowNorms(pv, rows, dim, digits);
    if (full) embeddings.positional = rowsOf(pv, rows, dim, digits);
  } else {
    const rope = d.blocks[0].attention.rotation;
    if (rope instanceof RotaryEmbedding) {
      embeddings.rope = {
        theta: rope.theta,
        style: rope.style,
        angles: ids.map((_, p) => Array.from(rope.angles(p), (a) => roundTo(a, digits))),
      };
    }
  }

  const trace: Trace = {
    version: TRACE_VERSION,
    model: modelInfo(model),
    prompt,
    tokens: promptTokens(model, prompt, ids),
    recordedLayers: layers,
    lensPositions: lensRows,
    embeddings,
    layers: rec.layers,
    output: { position: rows - 1, top: topTokens(tok, logits, topK, digits) },
    steps: [],
    elapsedMs: roundTo(elapsedMs, 4),
  };

  // Generation, one recorded step per token (the KV cache makes each a single position).
  const sampler = new Sampler(
    options.temperature === undefined || options.temperature === 0
      ? { greedy: true }
      : { temperature: options.temperature, seed: options.seed },
  );
  let output = trace.output;
  for (let s = 0; s < nSteps; s++) {
    yield;
    const id = options.forced?.[s] ?? sampler.sample(logits);
    if (!(Number.isInteger(id) && id >= 0 && id < v))
      throw new GlassError('BAD_INPUT', `trace: forced token ${id} is not in the vocabulary`);
    const prob = softmax(logits)[id];
    output.sampled = {
      id,
      text: pieceText(tok, id),
      prob: roundTo(prob, digits),
      logit: roundTo(logits[id], digits),
    };
    const stepRec = new StepRecorder(wanted, digits);
    const position = cache.length;
    logits = d.forward([id], cache, true, stepRec);
    const step: TraceStep = {
      token: { id, text: pieceText(tok, id), start: 0, end: 0 },
      position,
      attention: stepRec.attention,
      output: { position, top: topTokens(tok, logits, topK, digits) },
    };
    trace.steps.push(step);
    hooks.onStep?.(step);
    output = step.output;
  }
  cache.release(); // now, not when collected (the wasm backend's copy of it too)
  return trace;
}
