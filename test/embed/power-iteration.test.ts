// powerStep: one step of power iteration on XᵀX (SIF's common component and the explorer's PCA).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { powerStep } from '../../src/embed/power-iteration.js';

// XᵀX = diag(18, 2) for these rows: the leading direction is the first axis, the second the other.
const rows = [
  [3, 0],
  [-3, 0],
  [0, 1],
  [0, -1],
];

test('powerStep: XᵀX·w, normalized, with the norm before normalizing', () => {
  const s = 1 / Math.sqrt(2);
  const { next, norm } = powerStep(rows, Float64Array.of(s, s));
  // XᵀX·w = (18s, 2s); its norm s·√(18² + 2²)
  assert.ok(Math.abs(norm - s * Math.hypot(18, 2)) < 1e-12);
  assert.ok(Math.abs(next[0]! - 18 / Math.hypot(18, 2)) < 1e-12);
  assert.ok(Math.abs(next[1]! - 2 / Math.hypot(18, 2)) < 1e-12);
});

test('powerStep: orthogonal to the directions found, iterated to the leading and then the second one', () => {
  let w = Float64Array.of(0.6, 0.8);
  for (let i = 0; i < 30; i++) w = powerStep(rows, w).next;
  assert.ok(Math.abs(Math.abs(w[0]!) - 1) < 1e-9, `first: ${w.join(', ')}`);
  const { next, norm } = powerStep(rows, Float64Array.of(0.6, 0.8), [w]);
  assert.ok(
    Math.abs(next[0]!) < 1e-9 && Math.abs(Math.abs(next[1]!) - 1) < 1e-9,
    `second: ${next.join(', ')}`,
  );
  assert.ok(Math.abs(norm - 2 * 0.8) < 1e-9); // the variance along it: 2, times w's share 0.8
});

test('powerStep: rows orthogonal to w give norm 0 and are left unnormalized', () => {
  const { next, norm } = powerStep([[0, 1]], Float64Array.of(1, 0));
  assert.equal(norm, 0);
  assert.deepEqual(Array.from(next), [0, 0]);
});
