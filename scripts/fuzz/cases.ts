// The fuzz harness's material: base files per format (real files from ../shared, and small ones written
// here), deterministic mutations of them, and the loader each one goes through. Used by scripts/fuzz.ts
// (which runs it in child processes under a time and memory watch) and by test/fuzz.test.ts.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openGguf, type GgufTypedValue } from '../../src/formats/gguf.js';
import { writeGguf, type GgufTensorToWrite } from '../../src/formats/gguf-write.js';
import { parseHfConfig } from '../../src/formats/hf-config.js';
import { openLlama2c, writeLlama2c } from '../../src/formats/llama2c.js';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../../src/formats/safetensors.js';
import { buildDecoder, loadModelFromFiles } from '../../src/models/load-files.js';
import type { Decoder } from '../../src/models/decoder.js';
import { loadTokenizerFromBytes } from '../../src/tokenizers/load-files.js';
import { bytesSource } from '../../src/util/bytes.js';
import { Rng } from '../../src/generate/rng.js';
import { GlassError } from '../../src/util/errors.js';
import { parseJsonFile } from '../../src/util/file-set.js';

export const FORMATS = ['gguf', 'llama2c', 'safetensors', 'tokenizer.json', 'tokenizer.model'] as const;
export type Format = (typeof FORMATS)[number];

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * ../shared (the real models and tokenizers): $GLASSLM_SHARED, else beside the checkout, else two levels up
 * (git worktrees under a folder of their own); undefined when absent.
 */
export function sharedDir(): string | undefined {
  const tries = [process.env.GLASSLM_SHARED, join(ROOT, '../shared'), join(ROOT, '../../shared')];
  return tries.find((d) => d !== undefined && existsSync(join(d, 'models')));
}

/** A file set to mutate: `files[target]` is mutated, the others are passed along as they are. */
export interface Base {
  label: string;
  files: Array<{ name: string; bytes: Uint8Array }>;
  target: number;
  /** Byte ranges [offset, size] of header fields (counts, lengths, dims, offsets) worth setting to extremes. */
  fields: Array<[number, 1 | 2 | 4 | 8]>;
  /** JSON text files mutate structurally (values swapped for extremes) as well as byte-wise. */
  json?: boolean;
  /** How often it is picked relative to the format's other bases (default 1). */
  weight?: number;
  /** The fields are protobuf varints (re-encoded, so the message shifts), not fixed-size integers. */
  varints?: boolean;
}

// ---- deterministic randomness -------------------------------------------------------------------

/** Integers and picks from the project's seeded PRNG (src/generate/rng.ts). */
export class Dice extends Rng {
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

/** Values a size field is set to: the edges where arithmetic and allocation go wrong. */
const EXTREMES: bigint[] = [
  0n,
  1n,
  2n,
  3n,
  7n,
  255n,
  2n ** 16n,
  2n ** 24n,
  2n ** 26n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];

// ---- field walkers (independent of the loaders under test, so their bugs do not hide fields) -----

/** GGUF header fields: counts, string lengths, array counts, dims, offsets and scalar metadata values. */
function ggufFields(b: Uint8Array): Array<[number, 1 | 2 | 4 | 8]> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Array<[number, 1 | 2 | 4 | 8]> = [];
  const version = dv.getUint32(4, true);
  const cs: 4 | 8 = version === 1 ? 4 : 8;
  let p = 8;
  const count = (): number => {
    out.push([p, cs]);
    const v = cs === 4 ? dv.getUint32(p, true) : Number(dv.getBigUint64(p, true));
    p += cs;
    return v;
  };
  /** Skips a length-prefixed string (not `p += count()`: that reads p before count() moves it). */
  const skipString = () => {
    const n = count();
    p += n;
  };
  const sizes = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
  const value = (t: number, depth: number): void => {
    if (t === 8) skipString();
    else if (t === 9) {
      out.push([p, 4]);
      const it = dv.getUint32(p, true);
      p += 4;
      const n = count();
      if (it === 8 || it === 9) {
        // record the first few items' fields only: a 32k-token array would drown the rest
        for (let i = 0; i < n; i++) {
          if (i > 4) {
            const save = out.length;
            value(it, depth + 1);
            out.length = save;
          } else value(it, depth + 1);
        }
      } else p += n * sizes[it];
    } else {
      const s = sizes[t] as 1 | 2 | 4 | 8;
      out.push([p, s]);
      p += s;
    }
  };
  const nTensors = count();
  const nKv = count();
  for (let i = 0; i < nKv; i++) {
    skipString();
    out.push([p, 4]);
    const t = dv.getUint32(p, true);
    p += 4;
    value(t, 0);
  }
  for (let i = 0; i < nTensors; i++) {
    skipString();
    out.push([p, 4]);
    const nd = dv.getUint32(p, true);
    p += 4;
    for (let d = 0; d < nd; d++) count();
    out.push([p, 4]); // type
    p += 4;
    out.push([p, 8]); // offset
    p += 8;
  }
  return out;
}

/** protobuf (SentencePiece model): every varint length/value position in the top-level and piece messages. */
function protobufFields(b: Uint8Array, start = 0, end = b.length, depth = 0): Array<[number, 1 | 2 | 4 | 8]> {
  const out: Array<[number, 1 | 2 | 4 | 8]> = [];
  let p = start;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    while (p < end) {
      const x = b[p++];
      v += (x & 0x7f) * mul;
      mul *= 128;
      if (!(x & 0x80)) break;
    }
    return v;
  };
  let pieces = 0;
  while (p < end && out.length < 4000) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) {
      out.push([p, 1]);
      varint();
    } else if (wire === 2) {
      out.push([p, 1]);
      const n = varint();
      if (depth === 0 && key >> 3 === 1 && pieces++ < 50) out.push(...protobufFields(b, p, p + n, 1));
      p += n;
    } else if (wire === 5) {
      out.push([p, 4]);
      p += 4;
    } else if (wire === 1) p += 8;
    else break;
  }
  return out;
}

// ---- base files ---------------------------------------------------------------------------------

function read(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}

function f32(n: number, seed: number, scale = 0.1): Float32Array {
  const r = new Dice(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r.next() * 2 - 1) * scale;
  return out;
}

/**
 * A GGUF version 3 copy of a v1/v2 file (F32, with Q8_0 where rows allow); `edit` may change its metadata
 * (the tests write hostile values this way).
 */
export async function ggufV3(
  bytes: Uint8Array,
  edit: (m: Array<[string, GgufTypedValue]>) => Array<[string, GgufTypedValue]> = (m) => m,
): Promise<Uint8Array> {
  const g = await openGguf(bytesSource(bytes, 'base.gguf'));
  const tensors: GgufTensorToWrite[] = [];
  for (const name of g.names()) {
    const info = g.tensorInfo(name);
    const data = await g.read(name);
    const q8 = info.shape.length === 2 && info.shape[1] % 32 === 0;
    tensors.push({ name, shape: info.shape, type: q8 ? 'Q8_0' : 'F32', data });
  }
  return writeGguf({ metadata: edit(g.typedMetadata.slice()), tensors });
}

/** A small GPT-2 safetensors folder (vocab 256, 2 layers of width 32): its config and weights. */
function tinyGpt2(dtype: 'F32' | 'BF16' | 'F16'): { config: Uint8Array; weights: Uint8Array } {
  const V = 256;
  const D = 32;
  const C = 32;
  const ts: TensorToWrite[] = [];
  let seed = 1;
  const add = (name: string, shape: number[]) =>
    ts.push({
      name,
      shape,
      dtype,
      data: f32(
        shape.reduce((a, b) => a * b, 1),
        seed++,
      ),
    });
  add('wte.weight', [V, D]);
  add('wpe.weight', [C, D]);
  for (let l = 0; l < 2; l++) {
    const p = `h.${l}`;
    add(`${p}.ln_1.weight`, [D]);
    add(`${p}.ln_1.bias`, [D]);
    add(`${p}.attn.c_attn.weight`, [D, 3 * D]);
    add(`${p}.attn.c_attn.bias`, [3 * D]);
    add(`${p}.attn.c_proj.weight`, [D, D]);
    add(`${p}.attn.c_proj.bias`, [D]);
    add(`${p}.ln_2.weight`, [D]);
    add(`${p}.ln_2.bias`, [D]);
    add(`${p}.mlp.c_fc.weight`, [D, 4 * D]);
    add(`${p}.mlp.c_fc.bias`, [4 * D]);
    add(`${p}.mlp.c_proj.weight`, [4 * D, D]);
    add(`${p}.mlp.c_proj.bias`, [D]);
  }
  add('ln_f.weight', [D]);
  add('ln_f.bias', [D]);
  const config = {
    model_type: 'gpt2',
    vocab_size: V,
    n_positions: C,
    n_embd: D,
    n_layer: 2,
    n_head: 4,
    layer_norm_epsilon: 1e-5,
  };
  return {
    config: new TextEncoder().encode(JSON.stringify(config)),
    weights: writeSafetensors(ts, { format: 'pt' }),
  };
}

export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** A small byte-level BPE tokenizer.json with a Split regex (Llama 3's by default; it is fuzzed too). */
export function tinyBpeJson(regex = LLAMA3_PATTERN): Uint8Array {
  const vocab: Record<string, number> = {};
  // GPT-2's byte-to-unicode map: printable bytes as themselves, the rest shifted past 255
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    vocab[String.fromCodePoint(printable ? b : 256 + extra++)] = b;
  }
  const merges = ['Ġ t', 'h e', 'Ġt he', 'i n', 'a n', 'e r', 'o n', 'Ġ a', 'r e', 'Ġ s'];
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const json = {
    version: '1.0',
    added_tokens: [{ id: Object.keys(vocab).length, content: '<|end|>', special: true }],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: { Regex: regex },
          behavior: 'Isolated',
          invert: false,
        },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, vocab, merges },
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

/** The base files of a format (real ones from ../shared where present, small written ones always). */
export async function bases(format: Format): Promise<Base[]> {
  const shared = sharedDir();
  const s = (p: string) => (shared && existsSync(join(shared, p)) ? read(join(shared, p)) : undefined);
  const out: Base[] = [];
  switch (format) {
    case 'gguf': {
      const v1 = s('models/stories260K-gguf/tinyllamas-stories-260k-f32.gguf');
      const v2 = s('models/stories260K-gguf/tinyllamas-stories-260k-q8_0.gguf');
      const gguf = (label: string, bytes: Uint8Array) =>
        out.push({ label, files: [{ name: 'model.gguf', bytes }], target: 0, fields: ggufFields(bytes) });
      if (v1) gguf('stories260K f32 (GGUF v1)', v1);
      if (v2) gguf('stories260K q8_0 (GGUF v2)', v2);
      if (v1) {
        const v3 = await ggufV3(v1);
        gguf('stories260K f32+q8_0 (GGUF v3)', v3);
        const as2 = v3.slice();
        new DataView(as2.buffer).setUint32(4, 2, true);
        gguf('stories260K f32+q8_0 (GGUF v2 written)', as2);
      }
      break;
    }
    case 'llama2c': {
      const bin = s('models/stories260K-llama2c/stories260K.bin');
      const tok = s('models/stories260K-llama2c/tok512.bin');
      if (bin && tok) {
        /** The checkpoint and its tokenizer, one of them mutated. */
        const pair = (label: string, name: string, ckpt: Uint8Array, target: 0 | 1, fields: Base['fields']) =>
          out.push({
            label,
            files: [
              { name, bytes: ckpt },
              { name: 'tok512.bin', bytes: tok },
            ],
            target,
            fields,
          });
        const ints = (at: number, n: number): Base['fields'] =>
          Array.from({ length: n }, (_, i) => [at + 4 * i, 4]);
        pair('stories260K.bin (v0)', 'stories260K.bin', bin, 0, ints(0, 7));
        const f = await openLlama2c(bytesSource(bin, 'stories260K.bin'));
        const weights: Record<string, Float32Array> = {};
        for (const n of f.names()) weights[n] = await f.read(n);
        const { version: _v, groupSize: _g, ...config } = f.config;
        for (const version of [1, 2] as const) {
          const bytes = writeLlama2c({ config, version, weights });
          // magic, version, the 7 params, the shared-classifier flag and group size (read as int32s)
          pair(`stories260K.bin rewritten as llama2.c v${version}`, 'model.bin', bytes, 0, ints(0, 11));
        }
        // max_len, the first token's length, the second token's length
        pair('tok512.bin (llama2.c tokenizer)', 'stories260K.bin', bin, 1, [
          [0, 4],
          [8, 4],
          [12 + 4 + 1 + 4 + 4, 4],
        ]);
      }
      break;
    }
    case 'safetensors':
      for (const dtype of ['F32', 'BF16', 'F16'] as const) {
        const { config, weights } = tinyGpt2(dtype);
        out.push({
          label: `tiny GPT-2 ${dtype} model.safetensors`,
          files: [
            { name: 'model.safetensors', bytes: weights },
            { name: 'config.json', bytes: config },
          ],
          target: 0,
          fields: [[0, 8]],
        });
        if (dtype === 'F32')
          out.push({
            label: 'tiny GPT-2 config.json',
            files: [
              { name: 'model.safetensors', bytes: weights },
              { name: 'config.json', bytes: config },
            ],
            target: 1,
            fields: [],
            json: true,
          });
      }
      break;
    case 'tokenizer.json': {
      const mini = s('tokenizers/all-MiniLM-L6-v2/tokenizer.json');
      if (mini)
        out.push({
          label: 'all-MiniLM-L6-v2 tokenizer.json (WordPiece)',
          files: [{ name: 'tokenizer.json', bytes: mini }],
          target: 0,
          fields: [],
          json: true,
        });
      out.push({
        label: 'byte-level BPE tokenizer.json with a Split regex',
        files: [{ name: 'tokenizer.json', bytes: tinyBpeJson() }],
        target: 0,
        fields: [],
        json: true,
        weight: 9, // 50 times faster to load than MiniLM's 30k-token file: 10% of the files are MiniLM's
      });
      break;
    }
    case 'tokenizer.model': {
      // (opus-mt's source.spm is a unigram model, which this version refuses as a whole: not a useful base)
      for (const p of ['tokenizers/llama2/tokenizer.model']) {
        const b = s(p);
        if (b)
          out.push({
            label: p,
            files: [{ name: 'tokenizer.model', bytes: b }],
            target: 0,
            fields: protobufFields(b),
            varints: true,
          });
      }
      break;
    }
  }
  return out;
}

// ---- mutations ----------------------------------------------------------------------------------

function setField(b: Uint8Array, at: number, size: number, v: bigint): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (at + size > b.length) return;
  const m = v & ((1n << BigInt(8 * size)) - 1n);
  if (size === 8) dv.setBigUint64(at, m, true);
  else if (size === 4) dv.setUint32(at, Number(m), true);
  else if (size === 2) dv.setUint16(at, Number(m), true);
  else dv.setUint8(at, Number(m));
}

/** A protobuf varint at `at` replaced by `v` (the message shifts: lengths set to extremes as encoded). */
function setVarint(b: Uint8Array, at: number, v: bigint): Uint8Array {
  let end = at;
  while (end < b.length && b[end] & 0x80) end++;
  end++;
  const enc: number[] = [];
  let x = v & ((1n << 64n) - 1n);
  do {
    const byte = Number(x & 0x7fn);
    x >>= 7n;
    enc.push(x > 0n ? byte | 0x80 : byte);
  } while (x > 0n);
  const out = new Uint8Array(at + enc.length + Math.max(0, b.length - end));
  out.set(b.subarray(0, at));
  out.set(enc, at);
  out.set(b.subarray(Math.min(end, b.length)), at + enc.length);
  return out;
}

const NASTY_STRINGS = ['', '(a+)+$', '(a|a)*b', '((x*)*)*y', '\\', '[', '\u0000', '\ud800', 'x'.repeat(5000)];

/** A JSON value replaced by an extreme or a different type, somewhere in the document. */
function mutateJson(text: string, r: Dice): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  // collect container paths (bounded walk)
  const slots: Array<{ obj: Record<string, unknown> | unknown[]; key: string | number }> = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 6 || slots.length > 20000 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      const n = Math.min(v.length, 8);
      for (let i = 0; i < n; i++) {
        slots.push({ obj: v, key: i });
        walk(v[i], depth + 1);
      }
    } else
      for (const k of Object.keys(v as object)) {
        if (slots.length > 20000) break;
        slots.push({ obj: v as Record<string, unknown>, key: k });
        walk((v as Record<string, unknown>)[k], depth + 1);
      }
  };
  walk(doc, 0);
  if (!slots.length) return undefined;
  const replacements: unknown[] = [
    0,
    -1,
    1.5,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    2 ** 63,
    1e308,
    -1e308,
    null,
    true,
    [],
    {},
    [[[[[]]]]],
    ...NASTY_STRINGS,
    { Regex: r.pick(NASTY_STRINGS) },
  ];
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const slot = r.pick(slots);
    const current = (slot.obj as Record<string | number, unknown>)[slot.key];
    if (typeof current === 'object' && current !== null && r.int(2) === 0 && Array.isArray(current)) {
      // drop or duplicate items
      if (r.int(2)) current.length = r.int(current.length + 1);
      else current.push(...current.slice(0, 4));
    } else (slot.obj as Record<string | number, unknown>)[slot.key] = r.pick(replacements);
  }
  return JSON.stringify(doc);
}

export interface Mutation {
  base: Base;
  bytes: Uint8Array;
  kind: string;
}

/** Mutation `index` of a format (deterministic in seed and index). */
export function mutate(all: Base[], seed: number, index: number): Mutation {
  const r = new Dice((seed * 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
  r.next();
  let w = r.next() * all.reduce((n, b) => n + (b.weight ?? 1), 0);
  const base = all.find((b) => (w -= b.weight ?? 1) < 0) ?? all[all.length - 1];
  const src = base.files[base.target].bytes;
  let b: Uint8Array = src.slice();
  const kinds: string[] = ['bitflip', 'bytes', 'truncate', 'splice'];
  if (base.fields.length) kinds.push('field', 'field', 'field');
  if (base.json) kinds.push('json', 'json', 'json');
  const kind = r.pick(kinds);
  // byte-level edits land in the header most of the time: that is where the sizes are
  const headerish = () => {
    const h = Math.min(b.length, base.fields.length ? base.fields[base.fields.length - 1][0] + 16 : 4096);
    return r.int(3) === 0 ? r.int(b.length) : r.int(Math.max(1, h));
  };
  switch (kind) {
    case 'bitflip': {
      const n = 1 + r.int(8);
      for (let i = 0; i < n; i++) b[headerish()] ^= 1 << r.int(8);
      break;
    }
    case 'bytes': {
      const n = 1 + r.int(4);
      for (let i = 0; i < n; i++) b[headerish()] = r.pick([0, 0xff, 0x7f, 0x80, r.int(256)]);
      break;
    }
    case 'truncate':
      b = b.slice(0, r.int(3) === 0 ? r.int(64) : r.int(b.length));
      break;
    case 'splice': {
      const at = headerish();
      const del = r.int(16);
      const ins = new Uint8Array(r.int(16)).map(() => r.int(256));
      const out = new Uint8Array(b.length - Math.min(del, b.length - at) + ins.length);
      out.set(b.subarray(0, at));
      out.set(ins, at);
      out.set(b.subarray(Math.min(b.length, at + del)), at + ins.length);
      b = out;
      break;
    }
    case 'field': {
      const n = 1 + (r.int(4) === 0 ? 1 : 0);
      for (let i = 0; i < n; i++) {
        const [at, size] = r.pick(base.fields);
        const v = r.pick(EXTREMES);
        if (base.varints) b = setVarint(b, at, v);
        else setField(b, at, size, v);
      }
      break;
    }
    case 'json': {
      const t = mutateJson(new TextDecoder().decode(b), r);
      if (t !== undefined) b = new TextEncoder().encode(t);
      else b[headerish()] ^= 1;
      break;
    }
  }
  return { base, bytes: b, kind };
}

// ---- loading ------------------------------------------------------------------------------------

const SAMPLE = 'Once upon a time, Lily saw a big dog. 12345 — ¿qué? 日本語 🙂\n\n  end';

function runOneToken(d: Decoder, bos: number): void {
  const cache = d.newCache(4); // a small cache: the context length is the file's claim, not our need
  d.forward([Math.min(bos, d.vocabSize - 1)], cache, true);
}

/** Loads a mutated file set through the real loaders, then uses what loaded (one token, or encode/decode). */
export async function loadMutation(format: Format, m: Mutation): Promise<void> {
  const files = m.base.files.map((f, i) => ({
    name: f.name,
    bytes: i === m.base.target ? m.bytes : f.bytes,
  }));
  switch (format) {
    case 'gguf':
    case 'llama2c': {
      const model = await loadModelFromFiles(files);
      runOneToken(model.decoder, model.tokenizer.specialTokens.bos ?? 1);
      model.tokenizer.decode(model.tokenizer.encode(SAMPLE));
      return;
    }
    case 'safetensors': {
      const cfgText = new TextDecoder().decode(files.find((f) => f.name === 'config.json')!.bytes);
      const config = parseHfConfig(parseJsonFile(cfgText, 'config.json'), 'config.json');
      const st = files.find((f) => f.name === 'model.safetensors')!;
      const weights = await openSafetensors(bytesSource(st.bytes, 'model.safetensors'));
      const d = await buildDecoder(config, weights);
      runOneToken(d, 0);
      return;
    }
    case 'tokenizer.json':
    case 'tokenizer.model': {
      const f = files[m.base.target];
      const tok = loadTokenizerFromBytes(f.bytes, f.name);
      tok.decode(tok.encode(SAMPLE));
      return;
    }
  }
}

export type Outcome = 'loaded' | 'error' | 'crash' | 'hang' | 'memory';

/** A clean error is a GlassError (our message, one line); anything else thrown is a crash. */
export function classify(e: unknown): { outcome: Outcome; message: string } {
  if (e instanceof GlassError) {
    const oneLine = !e.message.includes('\n') && e.message.length <= 2000;
    return oneLine
      ? { outcome: 'error', message: e.message }
      : { outcome: 'crash', message: `GlassError with an unreadable message: ${e.message.slice(0, 200)}` };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const at = (err.stack ?? '').split('\n').find((l) => l.includes('/src/')) ?? '';
  return { outcome: 'crash', message: `${err.name}: ${err.message.slice(0, 300)} ${at.trim()}` };
}
