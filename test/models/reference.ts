// Comparing our logits with the float64 references in test/fixtures/*-reference.json.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LanguageModel } from '../../src/models/model.js';

export interface PositionRef {
  sampled: number[];
  top: [number, number][];
  max: number;
  logsumexp: number;
}
export interface PromptRef {
  ids: number[];
  positions: PositionRef[];
  greedy: number[];
}
export interface Reference {
  stride: number;
  variants: Record<string, { sha256: Record<string, string>; prompts: Record<string, PromptRef> }>;
}

export function readReference(file: string): Reference {
  return JSON.parse(readFileSync(new URL(`../fixtures/${file}`, import.meta.url), 'utf8')) as Reference;
}

/** max |ours − ref| / max |ref| over the compared entries of one row (sampled, top-10, max, logsumexp). */
export function rowError(row: Float32Array, ref: PositionRef, stride: number): number {
  let scale = 0;
  let err = 0;
  const cmp = (ours: number, theirs: number) => {
    scale = Math.max(scale, Math.abs(theirs));
    err = Math.max(err, Math.abs(ours - theirs));
  };
  ref.sampled.forEach((v, i) => cmp(row[i * stride], v));
  for (const [id, v] of ref.top) cmp(row[id], v);
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - max);
  cmp(max, ref.max);
  cmp(max + Math.log(s), ref.logsumexp); // covers every entry of the row, not only the sampled ones
  return err / scale;
}

/** The fixture files are byte-identical to the ones the reference was computed on. */
export function assertSameFiles(dir: string, sha256: Record<string, string>): void {
  for (const [file, sha] of Object.entries(sha256)) {
    const got: string = createHash('sha256')
      .update(readFileSync(join(dir, file)))
      .digest('hex');
    assert.equal(
      got,
      sha,
      `${file} differs from the one the reference was computed on (rerun the fixture scripts)`,
    );
  }
}

/** Logits of every prompt position, whole-prompt and token-by-token through the KV cache, within `tol`. */
export function assertLogitsMatch(model: LanguageModel, ref: Reference, variant: string, tol: number): void {
  for (const [name, p] of Object.entries(ref.variants[variant].prompts)) {
    const full = model.forward(p.ids);
    const vocab = full.shape[1];
    for (let i = 0; i < p.ids.length; i++) {
      const row = full.data.subarray(i * vocab, (i + 1) * vocab);
      const e = rowError(row, p.positions[i], ref.stride);
      assert.ok(e < tol, `${name} position ${i}: relative error ${e.toExponential(2)} (no cache)`);
      let best = 0;
      for (let j = 1; j < vocab; j++) if (row[j] > row[best]) best = j;
      assert.equal(best, p.positions[i].top[0][0], `${name} position ${i}: argmax`);
    }
    const cache = model.newCache();
    for (let i = 0; i < p.ids.length; i++) {
      const e = rowError(model.forward([p.ids[i]], cache).data, p.positions[i], ref.stride);
      assert.ok(e < tol, `${name} position ${i}: relative error ${e.toExponential(2)} (KV cache)`);
    }
  }
}

export async function assertGreedyMatches(
  model: LanguageModel,
  ref: Reference,
  variant: string,
): Promise<void> {
  for (const [name, p] of Object.entries(ref.variants[variant].prompts)) {
    const gen = model.generate(p.ids, { greedy: true, maxTokens: p.greedy.length, stopAtEos: false });
    for await (const _ of gen) {
      // drain
    }
    assert.deepEqual((await gen.result).ids, p.greedy, `${name}: greedy ids`);
  }
}

/** ‖a − b‖ / ‖a‖ over two arrays of the same length (logits, gradients…): a is the reference. */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += a[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** max |ours − ref| / max |ref| over two arrays of the same length (vectors, or [rows × dim] flattened). */
export function relError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  assert.equal(ours.length, ref.length, 'length');
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / scale;
}
