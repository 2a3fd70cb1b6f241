// Training — one step: a batch of windows → forward on the tape → loss → backward → clip → AdamW, with the
// learning rate from the schedule. Deterministic: batches come from (seed, step), the arithmetic runs in one
// fixed order, so the same seed gives the same loss curve bit for bit (and a resumed run continues it).
import { Rng } from '../generate/rng.js';
import { Tape } from './autograd.js';
import { randomBatch, stepSeed, type Batch, type TokenIds } from './data.js';
import type { TrainableGpt } from './model.js';
import { AdamW, clipGradNorm, learningRate } from './optim.js';

export interface TrainOptions {
  batch: number;
  /** Window length (≤ the model's context length). */
  seqLen: number;
  /** Total optimizer steps of the run (the schedule's length). */
  steps: number;
  lr: number;
  /** Final learning rate of the cosine decay (default lr/10). */
  minLr?: number;
  warmupSteps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  gradClip: number;
  beta1?: number;
  beta2?: number;
  seed: number;
  /** Validation batches per evaluation (the same windows every time). */
  evalBatches: number;
}

export interface StepResult {
  /** The step just taken (1-based: the number of updates so far). */
  step: number;
  loss: number;
  lr: number;
  /** Gradient norm before clipping. */
  gradNorm: number;
  tokens: number;
  seconds: number;
}

export class Trainer {
  readonly optimizer: AdamW;
  private readonly tape = new Tape();
  private readonly evalTape = new Tape({ grad: false });

  constructor(
    readonly model: TrainableGpt,
    readonly data: { train: TokenIds; val: TokenIds },
    readonly options: TrainOptions,
  ) {
    this.optimizer = new AdamW(model.params, {
      lr: options.lr,
      weightDecay: options.weightDecay,
      beta1: options.beta1,
      beta2: options.beta2,
    });
  }

  /** Updates taken so far. */
  get step(): number {
    return this.optimizer.step;
  }

  /** The batch of step s (0-based): a function of (seed, s) alone. */
  batchAt(s: number): Batch {
    const o = this.options;
    return randomBatch(this.data.train, o.batch, o.seqLen, new Rng(stepSeed(o.seed, s)));
  }

  /** One optimizer step. */
  trainStep(): StepResult {
    const t0 = performance.now();
    const o = this.options;
    const s = this.optimizer.step;
    const b = this.batchAt(s);
    const lr = learningRate(s, {
      lr: o.lr,
      minLr: o.minLr,
      warmupSteps: o.warmupSteps,
      totalSteps: o.steps,
    });
    this.model.zeroGrad();
    this.tape.reset();
    const loss = this.model.loss(this.tape, b.inputs, b.targets, b.batch, b.seqLen);
    const value = loss.data[0];
    this.tape.backward(loss);
    const gradNorm = clipGradNorm(this.model.params, o.gradClip);
    this.optimizer.lr = lr;
    this.optimizer.update();
    this.model.syncTied();
    this.tape.reset();
    return {
      step: this.optimizer.step,
      loss: value,
      lr,
      gradNorm,
      tokens: b.batch * b.seqLen,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Mean loss on `evalBatches` validation windows, the same ones each call; NaN when there is no validation data. */
  evaluate(): number {
    const { val } = this.data;
    if (val.length < 2) return NaN;
    const o = this.options;
    const seqLen = Math.min(o.seqLen, val.length - 1);
    const rng = new Rng(stepSeed(o.seed, 0, 1));
    let sum = 0;
    for (let k = 0; k < o.evalBatches; k++) {
      const b = randomBatch(val, o.batch, seqLen, rng);
      sum += batchLoss(this.model, b, this.evalTape);
    }
    return sum / o.evalBatches;
  }
}

/** Loss of one batch, forward only. */
export function batchLoss(model: TrainableGpt, b: Batch, tape = new Tape({ grad: false })): number {
  tape.reset();
  const loss = model.loss(tape, b.inputs, b.targets, b.batch, b.seqLen).data[0];
  tape.reset();
  return loss;
}
