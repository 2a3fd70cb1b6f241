// Training — the update rule: AdamW with decoupled weight decay, global gradient-norm clipping, and a
// cosine learning-rate schedule with linear warmup (the recipe of GPT-2 / nanoGPT).
import type { Arr } from './autograd.js';
import type { Param } from './params.js';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled decay λ: w ← w − lr·λ·w, only on parameters marked `decay` (block matrices). */
  weightDecay?: number;
}

/**
 * AdamW (Loshchilov & Hutter): m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
 *   w ← w − lr·λ·w (decay params only) − lr·m̂/(√v̂ + ε),  m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
 * The update is written into each Param's own array (the Decoder's weights).
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  /** Steps taken (t in the bias corrections). */
  step = 0;
  /** First and second moments, one pair per parameter, by parameter name. */
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();

  constructor(
    readonly params: readonly Param[],
    options: AdamWOptions,
  ) {
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.95;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.1;
    for (const p of params) {
      this.m.set(p.name, new Float32Array(p.data.length));
      this.v.set(p.name, new Float32Array(p.data.length));
    }
  }

  /** One update with the gradients in each Param's grad, at learning rate this.lr. */
  update(): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps, lr } = this;
    const c1 = 1 - Math.pow(b1, this.step);
    const c2 = 1 - Math.pow(b2, this.step);
    for (const p of this.params) {
      const m = this.m.get(p.name)!;
      const v = this.v.get(p.name)!;
      const w = p.data;
      const g = p.grad;
      const decay = p.decay ? 1 - lr * this.weightDecay : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i];
        const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
        const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
        w[i] = w[i] * decay - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
      }
    }
  }
}

/** The L2 norm of all gradients together. */
export function gradNorm(params: readonly Param[]): number {
  let s = 0;
  for (const p of params) {
    const g = p.grad;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  }
  return Math.sqrt(s);
}

/** Scales every gradient so that their joint L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Param[], maxNorm: number): number {
  const norm = gradNorm(params);
  if (maxNorm > 0 && norm > maxNorm) {
    const k = maxNorm / (norm + 1e-6);
    for (const p of params) scale(p.grad, k);
  }
  return norm;
}

function scale(a: Arr, k: number): void {
  for (let i = 0; i < a.length; i++) a[i] *= k;
}

export interface Schedule {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Learning rate at the last step (default lr/10). */
  minLr?: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Learning rate for step s (0-based): linear warmup lr·(s+1)/warmup, then cosine decay from lr to minLr
 * over the remaining steps: minLr + ½(lr − minLr)(1 + cos(π·progress)).
 */
export function learningRate(s: number, sch: Schedule): number {
  const minLr = sch.minLr ?? sch.lr / 10;
  if (s < sch.warmupSteps) return (sch.lr * (s + 1)) / sch.warmupSteps;
  const span = Math.max(1, sch.totalSteps - sch.warmupSteps);
  const progress = Math.min(1, (s - sch.warmupSteps) / span);
  return minLr + 0.5 * (sch.lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
