// model.trace(prompt): run the prompt once with a recorder attached (and optionally generate, recording
// each step) and return the Trace — the same code path as generation, so traced logits == untraced ones.
import { stepInput } from '../generate/generate.js';
import { Sampler } from '../generate/sampler.js';
import { generationSteps, type GenerationStep, type StepLoopOptions } from '../generate/steps.js';
import type { Decoder } from '../models/decoder.js';
import type { Encoder } from '../models/encoder.js';
import { InferOps } from '../nn/infer.js';
import type { AdditivePositional, RelativePositionBias } from '../nn/positional.js';
import { GlassError } from '../util/errors.js';
import type { LanguageModel } from '../models/model.js';
import {
  encoderAttentionTap,
  PromptRecorder,
  StepRecorder,
  pieceText,
  rowNorms,
  rowsOf,
  roundTo,
  topTokens,
} from './recorder.js';
import {
  stepsOf,
  TRACE_VERSION,
  type Trace,
  type TraceEmbeddings,
  type TraceModelInfo,
  type TraceOptions,
  type TraceSource,
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
    positional: d.positional ? d.positional.kind : d.positionBias ? 'relative' : 'rope',
    norm: block.norm1.kind,
    ffn: block.ffn.kind,
    ...(d.logitSoftcap && { logitSoftcap: d.logitSoftcap }),
    ...(model.seq2seq && {
      encoder: {
        nLayers: model.seq2seq.encoder.nLayers,
        nHeads: model.seq2seq.encoder.blocks[0].attention.config.nHeads,
        positional: model.seq2seq.encoder.positional?.kind ?? 'relative',
      },
    }),
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

/** What the recorded steps take from a request: model.trace's options and the server's /api/generate. */
export type StepRecording = Pick<
  TraceOptions,
  'steps' | 'temperature' | 'seed' | 'forced' | 'topK' | 'precision' | 'layers' | 'stopAtEos' | 'stop'
>;

/**
 * The step loop as trace and the server run it: the layers checked, greedy unless a temperature is given,
 * all of a request's steps fitting in the context, every step fed and its attention rows recorded.
 */
export function recording(d: Decoder, o: StepRecording) {
  const layers = o.layers ?? Array.from({ length: d.nLayers }, (_, l) => l);
  for (const l of layers) {
    if (!(Number.isInteger(l) && l >= 0 && l < d.nLayers))
      throw new GlassError(
        'BAD_INPUT',
        `layer ${l} does not exist (the model has layers 0..${d.nLayers - 1})`,
      );
  }
  const wanted = new Set(layers);
  const digits = o.precision ?? 5;
  const t = o.temperature;
  const loop: StepLoopOptions = {
    sampler: new Sampler(t === undefined || t === 0 ? { greedy: true } : { temperature: t, seed: o.seed }),
    maxTokens: stepsOf(o),
    forced: o.forced,
    stopAtEos: o.stopAtEos,
    stop: o.stop,
    fitAll: true,
    feedAll: true,
    stepRecorder: () => new StepRecorder(wanted, digits),
  };
  return { digits, topK: o.topK ?? 10, wanted, loop };
}

/** A step of the step loop as the trace (and the server's stream) records it. */
export function traceStep(
  tok: LanguageModel['tokenizer'],
  step: GenerationStep,
  topK: number,
  digits: number,
): TraceStep {
  const rec = step.recorder as StepRecorder;
  return {
    token: { id: step.id, text: pieceText(tok, step.id), start: 0, end: 0 },
    position: step.position,
    attention: rec.attention,
    ...(rec.crossAttention.length > 0 && { crossAttention: rec.crossAttention }),
    output: { position: step.position, top: topTokens(tok, step.next!, topK, digits) },
  };
}

/**
 * T5's relative position bias as the trace shows it: for each distance key − query that `rows` positions
 * can have (causal: only ≤ 0), its bucket and each head's bias.
 */
function relativeBias(r: RelativePositionBias, rows: number, digits: number): TraceEmbeddings['relative'] {
  const distances: number[] = [];
  for (let d = 1 - rows; d <= (r.bidirectional ? rows - 1 : 0); d++) distances.push(d);
  const buckets = distances.map((d) => r.bucket(d));
  return {
    nBuckets: r.nBuckets,
    maxDistance: r.maxDistance,
    bidirectional: r.bidirectional,
    distances,
    buckets,
    bias: Array.from({ length: r.nHeads }, (_, h) =>
      buckets.map((b) => roundTo(r.weight[b * r.nHeads + h], digits)),
    ),
  };
}

/** Positional vectors [rows × dim] and their norms, as the trace shows an additive (learned, sinusoidal) table. */
function positionalVectors(
  p: AdditivePositional,
  rows: number,
  dim: number,
  digits: number,
  full: boolean,
): Pick<TraceEmbeddings, 'positional' | 'positionalNorms'> {
  const pv = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) pv.set(p.vector(i), i * dim);
  return {
    positionalNorms: rowNorms(pv, rows, dim, digits),
    ...(full && { positional: rowsOf(pv, rows, dim, digits) }),
  };
}

/** An encoder-decoder's source as the trace shows it: tokens, embeddings, and (with attention) the encoder's. */
function sourceTrace(
  model: LanguageModel,
  e: Encoder,
  prompt: string,
  ids: number[],
  options: TraceOptions,
): TraceSource {
  const digits = options.precision ?? 5;
  const full = (options.vectors ?? 'full') === 'full';
  const f = new InferOps(e.backend);
  const tv = f.finish(e.embedding.forward(f, ids).data); // [S, dim], scaled as the encoder adds it
  const embeddings: TraceEmbeddings = {
    tokenNorms: rowNorms(tv, ids.length, e.dim, digits),
    ...(full && { token: rowsOf(tv, ids.length, e.dim, digits) }),
    ...(e.positional && positionalVectors(e.positional, ids.length, e.dim, digits, full)),
    ...(e.positionBias && { relative: relativeBias(e.positionBias, ids.length, digits) }),
  };
  return {
    tokens: promptTokens(model, prompt, ids),
    embeddings,
    recordedLayers: Array.from({ length: e.nLayers }, (_, l) => l),
  };
}

/**
 * model.trace as a generator: it pauses after each generated step (the first after the prompt pass too,
 * so a server can let other requests run in between) and returns the Trace.
 */
export function* traceParts(
  model: LanguageModel,
  prompt: string,
  options: TraceOptions = {},
  hooks: TraceHooks = {},
): Generator<void, Trace> {
  const d = model.decoder;
  const tok = model.tokenizer;
  const { digits, topK, wanted, loop } = recording(d, options);
  const s2s = model.seq2seq;
  // An encoder-decoder: the prompt is the source, encoded once (its self-attention recorded); the step
  // loop then runs the decoder bound to it, from the decoder's start token.
  const att: number[][][][] = [];
  const wantAtt = options.attention ?? true;
  const { net, ids, sourceIds, encodeMs } = stepInput(
    model,
    prompt,
    s2s && wantAtt ? encoderAttentionTap(att, digits) : null,
  );
  let source: TraceSource | undefined;
  if (s2s) {
    source = sourceTrace(model, s2s.encoder, prompt, sourceIds!, options);
    if (wantAtt) source.attention = att;
  }
  const rows = ids.length;
  const lensRows = options.lens === 'all' ? ids.map((_, i) => i) : [rows - 1];
  const full = (options.vectors ?? 'full') === 'full';
  const rec = new PromptRecorder(d, tok, {
    layers: wanted,
    topK,
    full,
    attention: options.attention ?? true,
    lensRows,
    digits,
  });
  let trace!: Trace;
  // The prompt pass (recorded), then one recorded step per token (the KV cache makes each a single position).
  const steps = generationSteps(net, tok, ids, {
    ...loop,
    beams: options.numBeams !== undefined ? { numBeams: options.numBeams } : undefined,
    prob: true,
    promptRecorder: rec,
    onPrefill: (logits, ms) =>
      (trace = promptTrace(model, prompt, ids, rec, logits, ms + encodeMs, options, source)),
  });
  let r = steps.next(); // the prompt pass (onPrefill: `trace`) and the first step
  let output = trace.output;
  while (!r.done) {
    const s = r.value;
    if (s.beam) {
      // beam search: the step's candidates join the tree (no single token, no attention row)
      trace.beams ??= { steps: [], hypotheses: [] };
      trace.beams.steps.push({
        position: s.position,
        candidates: s.beam.map((c) => ({
          parent: c.parent,
          token: { id: c.id, text: pieceText(tok, c.id), start: 0, end: 0 },
          logprob: roundTo(c.logprob, digits),
          fate: c.fate,
        })),
      });
      yield;
      r = steps.next();
      continue;
    }
    output.sampled = {
      id: s.id,
      text: pieceText(tok, s.id),
      prob: roundTo(s.prob, digits),
      logit: roundTo(s.logit, digits),
    };
    const step = traceStep(tok, s, topK, digits);
    trace.steps.push(step);
    hooks.onStep?.(step);
    output = step.output;
    yield;
    r = steps.next();
  }
  if (r.value.hypotheses && trace.beams) {
    trace.beams.hypotheses = r.value.hypotheses.map((h) => ({
      ids: h.ids,
      text: h.text,
      logprob: roundTo(h.logprob, digits),
      score: roundTo(h.score, digits),
      stop: h.stop,
    }));
    // The search's steps hold 2·numBeams candidates each, no single token to record. The winner is then
    // replayed as forced steps through the same loop, so the trace also holds its steps as a greedy run
    // would: each token's attention, cross-attention (the alignment) and output distribution.
    const best = trace.beams.hypotheses[0];
    if (best && best.ids.length > 0) {
      const replay: Trace = yield* traceParts(
        model,
        prompt,
        { ...options, numBeams: undefined, forced: best.ids, steps: best.ids.length },
        hooks,
      );
      return { ...replay, beams: trace.beams, elapsedMs: trace.elapsedMs + replay.elapsedMs };
    }
  }
  return trace;
}

/** The trace of the prompt pass: embeddings, layers, output (no steps yet). */
function promptTrace(
  model: LanguageModel,
  prompt: string,
  ids: number[],
  rec: PromptRecorder,
  logits: Float32Array,
  elapsedMs: number,
  options: TraceOptions,
  source?: TraceSource,
): Trace {
  const d = model.decoder;
  const digits = options.precision ?? 5;
  const rows = ids.length;
  // Embedding stage: token vectors, and learned positions or the rotary angles.
  const dim = d.dim;
  const tv = rec.tokenVectors ?? new Float32Array(rows * dim);
  const full = (options.vectors ?? 'full') === 'full';
  const embeddings: TraceEmbeddings = { tokenNorms: rowNorms(tv, rows, dim, digits) };
  if (full) embeddings.token = rowsOf(tv, rows, dim, digits);
  if (d.positional) {
    Object.assign(embeddings, positionalVectors(d.positional, rows, dim, digits, full));
  } else if (d.positionBias) {
    embeddings.relative = relativeBias(d.positionBias, rows, digits);
  } else {
    const rope = d.blocks[0].attention.rotation;
    if (rope) {
      embeddings.rope = {
        theta: rope.theta,
        style: rope.style,
        // the angles of this pass (all T rows: a dynamic / LongRoPE scaling depends on the pass's length)
        angles: rope.passAngles(0, rows).map((r) => Array.from(r, (a) => roundTo(a, digits))),
        ...(rope.rotaryDim !== rope.headDim && { rotaryDim: rope.rotaryDim }),
        ...(rope.scaling && { scaling: rope.scaling, attentionFactor: rope.attentionAt(rows) }),
      };
    }
  }
  return {
    version: TRACE_VERSION,
    model: modelInfo(model),
    prompt,
    ...(source && { source }),
    // an encoder-decoder's decoder reads its start token, not the prompt
    tokens: source
      ? ids.map((id) => ({ id, text: model.tokenizer.idToToken(id) ?? '', start: 0, end: 0 }))
      : promptTokens(model, prompt, ids),
    recordedLayers: options.layers ?? Array.from({ length: d.nLayers }, (_, l) => l),
    lensPositions: options.lens === 'all' ? ids.map((_, i) => i) : [rows - 1],
    embeddings,
    layers: rec.layers,
    output: { position: rows - 1, top: topTokens(model.tokenizer, logits, options.topK ?? 10, digits) },
    steps: [],
    elapsedMs: roundTo(elapsedMs, 4),
  };
}
