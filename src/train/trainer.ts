// Training — one step: the objective's batch → the model's forward on the tape → loss → backward → clip →
// AdamW, with the learning rate from the schedule. Deterministic: batches come from (seed, step), the
// arithmetic runs in one fixed order, so the same seed gives the same loss curve bit for bit (and a resumed
// run continues it). The same loop trains a decoder on text (NextToken) and an encoder on pairs
// (PairContrast): see objective.ts.
import { Tape } from './autograd.js';
import type { Decoder } from '../models/decoder.js';
import type { Batch, TokenIds } from './data.js';
import { NextToken, type Objective } from './objective.js';
import { AdamW, clipGradNorm, learningRate } from './optim.js';
import type { Parameters } from './params.js';

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

export class Trainer<B = unknown> {
  readonly optimizer: AdamW;
  readonly params: Parameters;
  private readonly tape: Tape;
  private readonly evalTape: Tape;

  constructor(
    readonly objective: Objective<B>,
    readonly options: Omit<TrainOptions, 'batch' | 'seqLen' | 'seed' | 'evalBatches'>,
  ) {
    this.params = objective.params;
    // the tapes run on the kernels the model was loaded for
    const backend = this.params.model.backend;
    this.tape = new Tape({ backend });
    this.evalTape = new Tape({ grad: false, backend });
    this.optimizer = new AdamW(this.params.params, {
      lr: options.lr,
      weightDecay: options.weightDecay,
      beta1: options.beta1,
      beta2: options.beta2,
    });
  }

  /** Language modelling (NextToken) of a decoder on a token stream: the objective and the optimizer from one set of options. */
  static nextToken(
    decoder: Decoder,
    data: { train: TokenIds; val: TokenIds },
    options: TrainOptions,
  ): Trainer<Batch> {
    return new Trainer(new NextToken(decoder, data, options), options);
  }

  /** Updates taken so far. */
  get step(): number {
    return this.optimizer.step;
  }

  /** One optimizer step. */
  trainStep(): StepResult {
    const t0 = performance.now();
    const o = this.options;
    const s = this.optimizer.step;
    const b = this.objective.batchAt(s);
    const lr = learningRate(s, {
      lr: o.lr,
      minLr: o.minLr,
      warmupSteps: o.warmupSteps,
      totalSteps: o.steps,
    });
    this.params.zeroGrad();
    this.tape.reset();
    const loss = this.objective.loss(this.tape, b);
    const value = loss.data[0];
    this.tape.backward(loss);
    const gradNorm = clipGradNorm(this.params.params, o.gradClip);
    this.optimizer.lr = lr;
    this.optimizer.update();
    this.params.syncTied();
    this.tape.reset();
    return {
      step: this.optimizer.step,
      loss: value,
      lr,
      gradNorm,
      tokens: this.objective.tokens(b),
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Mean loss over the objective's validation batches, the same ones each call; NaN when there are none. */
  evaluate(): number {
    const batches = this.objective.validation();
    if (batches.length === 0) return NaN;
    let sum = 0;
    for (const b of batches) sum += batchLoss(this.objective, b, this.evalTape);
    return sum / batches.length;
  }
}

/** Loss of one batch, forward only. */
export function batchLoss<B>(objective: Objective<B>, b: B, tape = new Tape({ grad: false })): number {
  tape.reset();
  const loss = objective.loss(tape, b).data[0];
  tape.reset();
  return loss;
}
