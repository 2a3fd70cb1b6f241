// Training (Node) — a whole run: step after step, evaluations and checkpoints on schedule, a clean stop with a
// checkpoint when asked (Ctrl-C), and resuming from the last checkpoint. The run is the same for any
// objective (a decoder on text, an encoder on pairs): it takes the Trainer and a function giving the model
// folder's files to save. The CLI commands `train` and `finetune` only parse options, prepare the model and
// data, and print what this reports.
import { mkdir } from 'node:fs/promises';
import type { ModelConfig } from '../formats/hf-config.js';
import type { Decoder } from '../models/decoder.js';
import type { Encoder } from '../models/encoder.js';
import type { Seq2Seq } from '../models/seq2seq.js';
import { GlassError } from '../util/errors.js';
import {
  appendMetric,
  checkpointDir,
  loadOptimizer,
  encoderFolderFiles,
  marianFolderFiles,
  modelFolderFiles,
  readMetrics,
  removeLeftovers,
  saveCheckpoint,
  writeMetrics,
  type MetricRecord,
  type ModelFiles,
  type TokenizerFiles,
  type TrainerState,
} from './checkpoint-node.js';
import type { TokenIds } from './data.js';
import { PairContrast, Translation, type PairBatch, type TranslationBatch } from './objective.js';
import type { Parameters } from './params.js';
import { Trainer, type TrainOptions } from './trainer.js';

/** What trainer_state.json records of the data: its file, checksum and size (in tokens). */
export type DataRecord = TrainerState['data'];

/** The model side of a run: the Trainer (objective + optimizer), the files to save, the data's record. */
export interface RunModel<B = unknown> {
  trainer: Trainer<B>;
  /** The model folder's files as they are now (config.json, weights, tokenizer...), saved at each checkpoint. */
  modelFiles: () => ModelFiles;
  data: DataRecord;
}

export interface RunSpec<B = unknown> extends RunModel<B> {
  dir: string;
  kind: 'train' | 'finetune';
  /** Title of loss.svg. */
  title: string;
  /** The run's options (the Trainer's were made from them). */
  options: TrainOptions;
  evalEvery: number;
  checkpointEvery: number;
  /** Continue from the checkpoint in `dir` (its optimizer state and metrics; see `openCheckpoint`). */
  resume?: TrainerState;
  source?: string;
  /** Aborting stops the run after the current step, with a checkpoint. */
  signal?: AbortSignal;
  onStep?: (r: MetricRecord, info: { totalSteps: number; etaSeconds: number; tokensSeen: number }) => void;
  onCheckpoint?: (step: number) => void;
  /** Called before the first step (after resuming): the step it starts from. */
  onStart?: (step: number) => void;
}

/** A pair of token-id sequences: (anchor, positive) for an embedder, (source, target) for an encoder-decoder. */
export type IdPair = readonly [ArrayLike<number>, ArrayLike<number>];

export interface RunResult {
  state: TrainerState;
  metrics: MetricRecord[];
  /** True when the run was stopped before its last step. */
  stopped: boolean;
  /** The model's weights as trained parameters. */
  params: Parameters;
}

/** A decoder trained on a token stream (NextToken), saved as an HF folder of its family. */
export function decoderRun(m: {
  config: ModelConfig;
  decoder: Decoder;
  tokenizerFiles: TokenizerFiles;
  data: { train: TokenIds; val: TokenIds; path: string; sha256: string };
  options: TrainOptions;
}): RunModel {
  const { train, val, path, sha256 } = m.data;
  return {
    trainer: Trainer.nextToken(m.decoder, { train, val }, m.options),
    modelFiles: () => modelFolderFiles(m.config, m.decoder, m.tokenizerFiles),
    data: {
      path,
      sha256,
      tokens: train.length + val.length,
      trainTokens: train.length,
      valTokens: val.length,
    },
  };
}

/** The data record of a run on pairs (tokens of both sides, `perPair` more for each pair). */
function pairsData(
  p: { train: IdPair[]; val: IdPair[]; path: string; sha256: string },
  perPair = 0,
): DataRecord {
  const count = (ps: IdPair[]) => ps.reduce((a, [x, y]) => a + x.length + y.length + perPair, 0);
  const [trainTokens, valTokens] = [count(p.train), count(p.val)];
  return { path: p.path, sha256: p.sha256, tokens: trainTokens + valTokens, trainTokens, valTokens };
}

/**
 * An encoder fine-tuned as a sentence embedder on (anchor, positive) token-id pairs (PairContrast, the
 * validation pairs scored in batches of `options.batch`), saved as a sentence-transformers folder:
 * `configJson` (the one it was loaded with), its weights in BERT names, and `pipelineFiles` (tokenizer,
 * modules.json, 1_Pooling/...; see sentenceTransformersFiles).
 */
export function encoderRun(m: {
  configJson: Readonly<Record<string, unknown>>;
  encoder: Encoder;
  pipelineFiles: ModelFiles;
  pairs: { train: IdPair[]; val: IdPair[]; path: string; sha256: string };
  /** The padding id (the config's pad_token_id). */
  padId: number;
  options: TrainOptions;
}): RunModel<PairBatch> {
  const { train, val } = m.pairs;
  const { batch, seed } = m.options;
  const objective = new PairContrast(m.encoder, train, { batch, seed, val, padId: m.padId });
  return {
    trainer: new Trainer(objective, m.options),
    modelFiles: () => encoderFolderFiles(m.configJson, m.encoder, m.pipelineFiles),
    data: pairsData(m.pairs),
  };
}

/**
 * An encoder-decoder trained on (source, target) token-id pairs (Translation: teacher forcing, the target
 * ending in `eos`), saved as an HF Marian folder: `configJson`, its weights in Marian names and
 * `otherFiles` (tokenizer.json, generation_config.json). The validation loss is over the first
 * `options.evalBatches` batches of `options.batch` held-out pairs (the same ones every evaluation).
 */
export function seq2seqRun(m: {
  configJson: Readonly<Record<string, unknown>>;
  model: Seq2Seq;
  otherFiles: ModelFiles;
  pairs: { train: IdPair[]; val: IdPair[]; path: string; sha256: string };
  eos: number;
  options: TrainOptions;
}): RunModel<TranslationBatch> {
  const { train, val } = m.pairs;
  const { batch, seed, evalBatches } = m.options;
  const objective = new Translation(m.model, train, {
    batch,
    seed,
    eos: m.eos,
    val: val.slice(0, evalBatches * batch),
  });
  return {
    trainer: new Trainer(objective, m.options),
    modelFiles: () => marianFolderFiles(m.configJson, m.model, m.otherFiles),
    // each target is followed by the end-of-text the decoder learns to stop with
    data: pairsData(m.pairs, 1),
  };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function runTraining<B>(spec: RunSpec<B>): Promise<RunResult> {
  const o = spec.options;
  const trainer = spec.trainer;
  let metrics: MetricRecord[] = [];
  let elapsed = 0;
  let tokensSeen = 0;
  await removeLeftovers(spec.dir, spec.resume);
  if (spec.resume) {
    await loadOptimizer(checkpointDir(spec.dir, spec.resume), trainer.optimizer);
    if (trainer.optimizer.step !== spec.resume.step) {
      throw new GlassError(
        'BAD_FILE',
        `${spec.dir}: the optimizer state is at step ${trainer.optimizer.step} but trainer_state.json says ${spec.resume.step}`,
      );
    }
    metrics = await readMetrics(spec.dir, spec.resume.step);
    elapsed = spec.resume.elapsedSeconds;
    tokensSeen = spec.resume.tokensSeen;
  } else {
    await mkdir(spec.dir, { recursive: true });
    await writeMetrics(spec.dir, []); // a fresh run starts a fresh log
  }
  const state = (): TrainerState => ({
    version: 1,
    kind: spec.kind,
    step: trainer.step,
    options: o,
    source: spec.source,
    data: spec.data,
    elapsedSeconds: elapsed,
    tokensSeen,
    lastTrainLoss: metrics.at(-1)?.train_loss,
    lastValLoss: [...metrics].reverse().find((m) => m.val_loss !== undefined)?.val_loss,
  });
  let saved = spec.resume;
  const checkpoint = async () => {
    saved = await saveCheckpoint(spec.dir, {
      model: spec.modelFiles(),
      optimizer: trainer.optimizer,
      state: state(),
      metrics,
      title: spec.title,
    });
    spec.onCheckpoint?.(trainer.step);
  };

  spec.onStart?.(trainer.step);
  // Throughput over the last few steps of wall time (the step, its evaluation, log and checkpoint): one
  // step's own time alone swings with the JIT and the GC, and the last one read far too high.
  const window: Array<{ tokens: number; seconds: number }> = [];
  let iterationStart = performance.now();
  let stopped = false;
  let lastSaved = spec.resume ? trainer.step : -1;
  while (trainer.step < o.steps) {
    if (spec.signal?.aborted) {
      stopped = true;
      break;
    }
    const r = trainer.trainStep();
    elapsed += r.seconds;
    tokensSeen += r.tokens;
    const rec: MetricRecord = {
      step: r.step,
      train_loss: r.loss,
      lr: r.lr,
      grad_norm: r.gradNorm,
      tokens_per_s: 0, // set below, once this step's evaluation and log are done
      elapsed_s: elapsed,
    };
    if (!Number.isFinite(r.loss)) {
      throw new GlassError('BAD_INPUT', `the loss became ${r.loss} at step ${r.step}; try a lower --lr`);
    }
    if (r.step % spec.evalEvery === 0 || r.step === o.steps) {
      const val = trainer.evaluate();
      if (Number.isFinite(val)) rec.val_loss = val;
    }
    const now = performance.now();
    window.push({ tokens: r.tokens, seconds: (now - iterationStart) / 1000 });
    if (window.length > 10) window.shift();
    const windowTokens = window.reduce((a, w) => a + w.tokens, 0);
    const windowSeconds = window.reduce((a, w) => a + w.seconds, 0);
    rec.tokens_per_s = windowTokens / windowSeconds;
    metrics.push(rec);
    await appendMetric(spec.dir, rec);
    const secondsPerStep = windowSeconds / window.length;
    spec.onStep?.(rec, { totalSteps: o.steps, etaSeconds: secondsPerStep * (o.steps - r.step), tokensSeen });
    if (r.step % spec.checkpointEvery === 0 && r.step < o.steps) {
      await checkpoint();
      lastSaved = r.step;
    }
    await yieldToEventLoop(); // lets a Ctrl-C (SIGINT) through between steps
    iterationStart = now;
  }
  if (lastSaved !== trainer.step) await checkpoint();
  return { state: saved ?? state(), metrics, stopped, params: trainer.params };
}
