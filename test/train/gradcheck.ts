// Gradient checks: analytic gradients from the tape against central finite differences, in float64.
import assert from 'node:assert/strict';
import { Rng } from '../../src/generate/rng.js';
import { Tape, type Var } from '../../src/train/autograd.js';
import type { Parameters } from '../../src/train/params.js';

export function randn(rng: Rng, n: number, std = 1, mean = 0): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = 1 - rng.next();
    const u2 = rng.next();
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

export interface Input {
  name: string;
  data: Float64Array;
  shape: number[];
}

/**
 * Checks d(loss)/d(input) for every input against (f(x+h) − f(x−h)) / 2h, on every entry (or `maxChecks`
 * entries chosen evenly). Returns the largest error relative to max(1, |gradient|)... scaled as below.
 */
export function gradCheck(
  inputs: Input[],
  build: (tape: Tape, vars: Var[]) => Var,
  opts: { h?: number; tol?: number; maxChecks?: number } = {},
): number {
  const h = opts.h ?? 1e-6;
  const tol = opts.tol ?? 1e-6;
  const maxChecks = opts.maxChecks ?? Infinity;
  const evaluate = (): number => {
    const tape = new Tape({ dtype: 'f64', grad: false });
    const vars = inputs.map((i) => tape.constant(i.data, i.shape));
    return build(tape, vars).data[0];
  };
  const tape = new Tape({ dtype: 'f64' });
  const vars = inputs.map((i) => tape.param(i.data, i.shape));
  const loss = build(tape, vars);
  tape.backward(loss);
  let worst = 0;
  inputs.forEach((input, k) => {
    const grad = vars[k].grad ?? new Float64Array(input.data.length);
    const n = input.data.length;
    const stride = Math.max(1, Math.floor(n / maxChecks));
    for (let i = 0; i < n; i += stride) {
      const orig = input.data[i];
      input.data[i] = orig + h;
      const up = evaluate();
      input.data[i] = orig - h;
      const down = evaluate();
      input.data[i] = orig;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - grad[i]) / Math.max(1, Math.abs(numeric), Math.abs(grad[i]));
      worst = Math.max(worst, err);
      assert.ok(
        err <= tol,
        `${input.name}[${i}]: analytic ${grad[i]} vs numeric ${numeric} (relative error ${err.toExponential(2)})`,
      );
    }
  });
  return worst;
}

/**
 * Whole-model check: for a few entries of every parameter tensor (first, a third, two thirds, last), the
 * tape's gradient of `loss` (float64 parameters) against central differences. Returns the worst relative
 * error; asserts each is under 1e-5.
 */
export function modelGradCheck(params: Parameters, loss: (tape: Tape) => Var): number {
  const lossOf = () => loss(new Tape({ dtype: 'f64', grad: false })).data[0];
  params.zeroGrad();
  const tape = new Tape({ dtype: 'f64' });
  tape.backward(loss(tape));
  const h = 1e-6;
  let worst = 0;
  for (const p of params.params) {
    const n = p.data.length;
    for (const i of new Set([0, Math.floor(n / 3), Math.floor((2 * n) / 3) + (n > 3 ? 1 : 0), n - 1])) {
      const orig = p.data[i];
      p.data[i] = orig + h;
      const up = lossOf();
      p.data[i] = orig - h;
      const down = lossOf();
      p.data[i] = orig;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - p.grad[i]) / Math.max(1e-3, Math.abs(numeric), Math.abs(p.grad[i]));
      worst = Math.max(worst, err);
      assert.ok(err < 1e-5, `${p.name}[${i}]: analytic ${p.grad[i]} vs numeric ${numeric}`);
    }
  }
  return worst;
}
