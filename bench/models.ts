// The models `npm run bench` measures (`--shape`), each in two forms built from the same weights:
// glasslm's Decoder, and a GGUF file written by glasslm's own GGUF writer for the peer (llama.cpp).
//
//   gpt2-124m    GPT-2 small's shapes (vocab 50257, 12 layers, 12 heads, 768 dims, context 1024), random
//                weights; glasslm builds it in memory from the nn blocks (its GGUF loader reads Llama files
//                only), the GGUF uses llama.cpp's gpt2 architecture and the real GPT-2 vocabulary.
//   stories15m   llama2.c's stories15M / 110M shapes (Llama 2 architecture, 32000-token vocabulary),
//   stories110m  random weights; both engines load the same GGUF file.
//   stories260k  the real pretrained stories260K from ../shared (re-written as GGUF v3: llama.cpp no longer
//                reads the v1 file there), random weights of its shape when absent. Its ffn_down rows
//                (172) are not whole 32-blocks: the Q8_0 file keeps ffn_down in F32, as glasslm does.
import { writeGpt2Onnx } from './ort-peer.js';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledGpt2TokenizerFiles } from '../src/cli/common.js';
import type { GgufTypedValue } from '../src/formats/gguf.js';
import { ggmlByteSize } from '../src/tensor/ggml-quant.js';
import type { GgufTensorToWrite, GgufWriteOptions } from '../src/formats/gguf-write.js';
import { openGgufFile, writeGgufFile } from '../src/formats/gguf-node.js';
import { loadModel } from '../src/models/load-node.js';
import { Decoder } from '../src/models/decoder.js';
import { Attention } from '../src/nn/attention.js';
import { Block } from '../src/nn/block.js';
import { Embedding } from '../src/nn/embedding.js';
import { FeedForward } from '../src/nn/feedforward.js';
import { Linear } from '../src/nn/linear.js';
import { LayerNorm } from '../src/nn/norm.js';
import { LearnedPositional } from '../src/nn/positional.js';
import {
  backend,
  matrixBytes,
  matrixF32,
  quantizeMatrixQ8_0,
  Q8_0_BLOCK,
  referenceBackend,
  setBackend,
  type Matrix,
} from '../src/tensor/index.js';

/**
 * The weights' form: f32, q8_0, and (Llama shapes only) GGUF files in ggml's 4–6-bit blocks, which glasslm
 * loads as they are: q4_0, q4_k (Q4_K everywhere), q4_k_m (llama.cpp's mix: the LM head, and attn_v and
 * ffn_down in some layers, in Q6_K), q5_k, q6_k.
 */
export type Kind = 'f32' | 'q8_0' | 'q4_0' | 'q4_k' | 'q4_k_m' | 'q5_k' | 'q6_k';
export const KINDS: readonly Kind[] = ['f32', 'q8_0', 'q4_0', 'q4_k', 'q4_k_m', 'q5_k', 'q6_k'];
export const SHAPES = ['gpt2-124m', 'stories15m', 'stories110m', 'stories260k'] as const;
export type ShapeName = (typeof SHAPES)[number];

export const sharedDir = fileURLToPath(new URL('../../shared/', import.meta.url));
export const stories260kGguf = join(sharedDir, 'models/stories260K-gguf/tinyllamas-stories-260k-f32.gguf');
export const stories260kGgufQ8 = join(sharedDir, 'models/stories260K-gguf/tinyllamas-stories-260k-q8_0.gguf');

/** A GGUF file written for the peer, and what one decode step reads of it. */
export interface GgufForPeer {
  path: string;
  bytes: number;
  /** Bytes of the matrices a decode step multiplies by (blocks + LM head), as stored in the file. */
  weightBytesPerToken: number;
}

/** One model to measure, in glasslm's and in the peer's form. */
export interface Subject {
  name: string;
  arch: 'gpt2' | 'llama';
  vocab: number;
  contextLength: number;
  layers: number;
  dim: number;
  randomWeights: boolean;
  notes: string[];
  /** glasslm's network for `kind`, its matrices placed by the active backend (set it first). */
  decoder(kind: Kind): Promise<Decoder>;
  /** The same weights as a GGUF file (written on first use) in `kind`. */
  gguf(kind: Kind): Promise<GgufForPeer>;
  /** Other files to offer the peer, reported as they load or fail (stories260K's own Q8_0 GGUF). */
  extraPeerFiles: Array<{ label: string; path: string; kind: Kind }>;
  /** Deletes the GGUF files (unless kept). */
  cleanup(): void;
  /** The same weights (f32) as an ONNX graph at `path`, for ONNX Runtime (bench/ort-peer.ts); gpt2 only. */
  onnx?(path: string): number;
}

// ---- random weights -------------------------------------------------------------------------------------

let seed = 0x9e3779b9;
/** n uniform values in ±scale (xorshift32: fast, deterministic). */
export function rand(n: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    a[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  seed = s >>> 0 || 1;
  return a;
}
const ones = (n: number) => new Float32Array(n).fill(1);

/** Bytes of matrices a decode step reads in glasslm's network (every linear layer and the LM head). */
export function decoderWeightBytes(d: Decoder): number {
  let b = matrixBytes(d.lmHead.weight);
  for (const blk of d.blocks) {
    const a = blk.attention;
    const f = blk.ffn;
    for (const l of [a.qkv, a.out, f.up, f.down, f.gate]) if (l) b += matrixBytes(l.weight);
  }
  return b;
}

/** GGUF bytes of a tensor of `type` holding n values. */
function storedBytes(type: GgufTensorToWrite['type'], n: number): number {
  return type === 'BF16' ? 2 * n : ggmlByteSize(type, n);
}

/**
 * llama.cpp's use_more_bits: the layers whose attn_v and ffn_down Q4_K_M stores in Q6_K (the first and
 * last eighth, and every third between).
 */
const moreBits = (layer: number, layers: number) =>
  layer < layers / 8 || layer >= (7 * layers) / 8 || (layer - Math.floor(layers / 8)) % 3 === 2;

/**
 * A matrix's GGUF type in `kind` (llama.cpp needs whole blocks per row: a K-quant matrix whose rows are not
 * whole 256-blocks falls back to Q4_0, any not whole 32-blocks to F32). name/layers: for q4_k_m's mix.
 */
function matrixType(kind: Kind, cols: number, name = '', layers = 1): GgufTensorToWrite['type'] {
  if (kind === 'f32' || cols % Q8_0_BLOCK !== 0) return 'F32';
  if (kind === 'q8_0') return 'Q8_0';
  if (kind === 'q4_0' || cols % 256 !== 0) return 'Q4_0';
  if (kind === 'q4_k') return 'Q4_K';
  if (kind === 'q5_k') return 'Q5_K';
  if (kind === 'q6_k') return 'Q6_K';
  // q4_k_m
  if (name === 'output.weight' || name === 'token_embd.weight') return 'Q6_K';
  const m = /^blk\.(\d+)\.(attn_v|ffn_down)\./.exec(name);
  return m && moreBits(Number(m[1]), layers) ? 'Q6_K' : 'Q4_K';
}

const u32 = (value: number): GgufTypedValue => ({ type: 'uint32', value });
const f32 = (value: number): GgufTypedValue => ({ type: 'float32', value });
const str = (value: string): GgufTypedValue => ({ type: 'string', value });
const strs = (value: string[]): GgufTypedValue => ({ type: 'array', itemType: 'string', value });

/** GGUF's general.file_type (llama_ftype): 0 all F32, 7 Q8_0, 2 Q4_0, 14 Q4_K_S, 15 Q4_K_M, 16 Q5_K_S, 18 Q6_K. */
const fileType = (kind: Kind) =>
  u32({ f32: 0, q8_0: 7, q4_0: 2, q4_k: 14, q4_k_m: 15, q5_k: 16, q6_k: 18 }[kind]);

/**
 * Where the GGUF files go: a new temporary folder, or GLASSLM_BENCH_GGUF_DIR, where a file already there is
 * used as it is (the 4–6-bit quantizers take minutes on 110M weights; repeated runs need not pay again) and
 * nothing is deleted.
 */
const REUSE_DIR = process.env.GLASSLM_BENCH_GGUF_DIR;

class GgufFiles {
  readonly dir = REUSE_DIR ?? mkdtempSync(join(tmpdir(), 'glasslm-bench-'));
  private readonly files = new Map<Kind, GgufForPeer>();
  constructor(
    readonly name: string,
    readonly keep: boolean,
    /** The write options for `kind`, and which tensors a decode step multiplies by. */
    readonly build: (kind: Kind) => { opts: GgufWriteOptions; matmul: (name: string) => boolean },
  ) {}

  async get(kind: Kind): Promise<GgufForPeer> {
    const have = this.files.get(kind);
    if (have) return have;
    const { opts, matmul } = this.build(kind);
    const path = join(this.dir, `${this.name}-${kind}.gguf`);
    let bytes: number;
    if (REUSE_DIR && existsSync(path)) bytes = statSync(path).size;
    else {
      // written whole or not at all: a run killed mid-write leaves no partial file to reuse
      bytes = await writeGgufFile(`${path}.part`, opts);
      renameSync(`${path}.part`, path);
    }
    const weightBytesPerToken = opts.tensors
      .filter((t) => matmul(t.name))
      .reduce((a, t) => a + storedBytes(t.type, t.data.length), 0);
    const f = { path, bytes, weightBytesPerToken };
    this.files.set(kind, f);
    return f;
  }

  cleanup(): void {
    if (this.keep || REUSE_DIR) console.error(`GGUF files kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- GPT-2 ---------------------------------------------------------------------------------------------

const GPT2 = { vocab: 50257, layers: 12, heads: 12, dim: 768, ctx: 1024, ffn: 3072, eps: 1e-5 };

interface Gpt2Layer {
  qkv: Float32Array;
  qkvB: Float32Array;
  proj: Float32Array;
  projB: Float32Array;
  fc: Float32Array;
  fcB: Float32Array;
  fc2: Float32Array;
  fc2B: Float32Array;
}

/** GPT-2's tokenizer as GGUF metadata (tokenizer.ggml.model "gpt2"): the real vocabulary and merges. */
function gpt2TokenizerMetadata(): Array<[string, GgufTypedValue]> {
  const files = bundledGpt2TokenizerFiles();
  const encoder = JSON.parse(readFileSync(files.vocab, 'utf8')) as Record<string, number>;
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(encoder)) tokens[id] = t;
  const merges = readFileSync(files.merges, 'utf8')
    .split('\n')
    .filter((l, i) => !(i === 0 && l.startsWith('#version')) && l.trim() !== '');
  const eot = encoder['<|endoftext|>'];
  const types = new Int32Array(tokens.length).fill(1);
  types[eot] = 3; // control
  return [
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str('gpt-2')],
    ['tokenizer.ggml.tokens', strs(tokens)],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: types }],
    ['tokenizer.ggml.merges', strs(merges)],
    ['tokenizer.ggml.bos_token_id', u32(eot)],
    ['tokenizer.ggml.eos_token_id', u32(eot)],
  ];
}

export function gpt2Subject(keepGguf: boolean): Subject {
  const { vocab, layers, heads, dim, ctx, ffn, eps } = GPT2;
  const s = 0.02;
  const wte = rand(vocab * dim, 0.1);
  const wpe = rand(ctx * dim, 0.01);
  const raw: Gpt2Layer[] = Array.from({ length: layers }, () => ({
    qkv: rand(3 * dim * dim, s),
    qkvB: rand(3 * dim, s),
    proj: rand(dim * dim, s),
    projB: rand(dim, s),
    fc: rand(ffn * dim, s),
    fcB: rand(ffn, s),
    fc2: rand(dim * ffn, s),
    fc2B: rand(dim, s),
  }));

  // Matrices of one kind, built once (quantizing takes seconds) and placed per backend.
  let mats: { kind: Kind; head: Matrix; layers: Matrix[][] } | null = null;
  const matrices = (kind: Kind) => {
    if (kind !== 'f32' && kind !== 'q8_0')
      throw new Error(`gpt2-124m is measured in f32 and q8_0 only (not ${kind}): use a Llama --shape`);
    if (mats?.kind === kind) return mats;
    mats = null;
    const prev = backend();
    setBackend(referenceBackend);
    const mk = (rows: number, cols: number, d: Float32Array): Matrix =>
      kind === 'f32' ? matrixF32(rows, cols, d) : quantizeMatrixQ8_0(rows, cols, d);
    mats = {
      kind,
      head: mk(vocab, dim, wte),
      layers: raw.map((l) => [
        mk(3 * dim, dim, l.qkv),
        mk(dim, dim, l.proj),
        mk(ffn, dim, l.fc),
        mk(dim, ffn, l.fc2),
      ]),
    };
    setBackend(prev);
    return mats;
  };

  const files = new GgufFiles('gpt2-124m', keepGguf, (kind) => {
    const zeros = new Float32Array(dim);
    const t = (name: string, shape: number[], data: Float32Array): GgufTensorToWrite => ({
      name,
      shape,
      type: shape.length === 2 && name !== 'position_embd.weight' ? matrixType(kind, shape[1]) : 'F32',
      data,
    });
    const tensors: GgufTensorToWrite[] = [
      t('token_embd.weight', [vocab, dim], wte),
      t('position_embd.weight', [ctx, dim], wpe),
    ];
    raw.forEach((l, i) => {
      const p = `blk.${i}`;
      tensors.push(
        t(`${p}.attn_norm.weight`, [dim], ones(dim)),
        t(`${p}.attn_norm.bias`, [dim], zeros),
        t(`${p}.attn_qkv.weight`, [3 * dim, dim], l.qkv),
        t(`${p}.attn_qkv.bias`, [3 * dim], l.qkvB),
        t(`${p}.attn_output.weight`, [dim, dim], l.proj),
        t(`${p}.attn_output.bias`, [dim], l.projB),
        t(`${p}.ffn_norm.weight`, [dim], ones(dim)),
        t(`${p}.ffn_norm.bias`, [dim], zeros),
        t(`${p}.ffn_up.weight`, [ffn, dim], l.fc),
        t(`${p}.ffn_up.bias`, [ffn], l.fcB),
        t(`${p}.ffn_down.weight`, [dim, ffn], l.fc2),
        t(`${p}.ffn_down.bias`, [dim], l.fc2B),
      );
    });
    // No output.weight: llama.cpp ties the LM head to token_embd, as GPT-2 does.
    tensors.push(t('output_norm.weight', [dim], ones(dim)), t('output_norm.bias', [dim], zeros));
    const metadata: Array<[string, GgufTypedValue]> = [
      ['general.architecture', str('gpt2')],
      ['general.name', str('glasslm bench gpt2-124m (random weights)')],
      ['general.file_type', fileType(kind)],
      ['gpt2.context_length', u32(ctx)],
      ['gpt2.embedding_length', u32(dim)],
      ['gpt2.feed_forward_length', u32(ffn)],
      ['gpt2.block_count', u32(layers)],
      ['gpt2.attention.head_count', u32(heads)],
      ['gpt2.attention.layer_norm_epsilon', f32(eps)],
      ...gpt2TokenizerMetadata(),
    ];
    return {
      opts: { metadata, tensors },
      matmul: (n) =>
        n === 'token_embd.weight' || (n.startsWith('blk.') && n.endsWith('.weight') && !n.includes('_norm')),
    };
  });

  return {
    name: 'gpt2-124M',
    arch: 'gpt2',
    vocab,
    contextLength: ctx,
    layers,
    dim,
    randomWeights: true,
    notes: ['glasslm builds GPT-2 in memory from the same arrays the GGUF is written from'],
    async decoder(kind) {
      const m = matrices(kind);
      const be = backend();
      const place = (x: Matrix) => (be.placeMatrix ? be.placeMatrix(x) : x);
      const blocks = raw.map((r, l) => {
        const [qkv, proj, fc, fc2] = m.layers[l].map(place);
        return new Block(
          new LayerNorm(ones(dim), new Float32Array(dim), eps),
          new Attention(
            { nHeads: heads, nKvHeads: heads, headDim: dim / heads },
            new Linear(qkv, r.qkvB),
            new Linear(proj, r.projB),
          ),
          new LayerNorm(ones(dim), new Float32Array(dim), eps),
          new FeedForward('gelu', new Linear(fc, r.fcB), new Linear(fc2, r.fc2B)),
        );
      });
      return new Decoder({
        embedding: new Embedding(wte, vocab, dim),
        positional: new LearnedPositional(wpe, ctx, dim),
        blocks,
        finalNorm: new LayerNorm(ones(dim), new Float32Array(dim), eps),
        lmHead: new Linear(place(m.head)),
        contextLength: ctx,
      });
    },
    gguf: (kind) => files.get(kind),
    extraPeerFiles: [],
    cleanup: () => files.cleanup(),
    onnx: (path) => writeGpt2Onnx(path, { ...GPT2, wte, wpe, layers: raw }),
  };
}

// ---- Llama (llama2.c's stories models) -------------------------------------------------------------------

interface LlamaShape {
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  ctx: number;
}

const LLAMA_SHAPES: Record<'stories15m' | 'stories110m' | 'stories260k', LlamaShape> = {
  stories15m: { dim: 288, layers: 6, heads: 6, kvHeads: 6, ffn: 768, vocab: 32000, ctx: 256 },
  stories110m: { dim: 768, layers: 12, heads: 12, kvHeads: 12, ffn: 2048, vocab: 32000, ctx: 1024 },
  stories260k: { dim: 64, layers: 5, heads: 8, kvHeads: 4, ffn: 172, vocab: 512, ctx: 512 },
};

/**
 * A SentencePiece-style vocabulary as GGUF metadata (tokenizer.ggml.model "llama"): Llama 2's 32000 pieces
 * from llama2.c's tokenizer.bin in ../shared when the vocabulary is that size, else made-up pieces
 * (<unk>, <s>, </s>, the 256 byte tokens, then "t<N>") — the speed does not depend on them.
 */
function llamaTokenizerMetadata(vocab: number): Array<[string, GgufTypedValue]> {
  const tokens: string[] = [];
  const scores = new Float32Array(vocab);
  const binPath = join(sharedDir, 'tokenizers/llama2/tokenizer.bin');
  if (vocab === 32000 && existsSync(binPath)) {
    const b = readFileSync(binPath);
    let o = 4; // max_token_length
    for (let i = 0; i < vocab; i++) {
      scores[i] = b.readFloatLE(o);
      const len = b.readInt32LE(o + 4);
      tokens.push(b.toString('utf8', o + 8, o + 8 + len).replaceAll(' ', '\u2581'));
      o += 8 + len;
    }
    tokens[0] = '<unk>';
    tokens[1] = '<s>';
    tokens[2] = '</s>';
  } else {
    tokens.push('<unk>', '<s>', '</s>');
    for (let i = 0; i < 256 && tokens.length < vocab; i++)
      tokens.push(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`);
    while (tokens.length < vocab) {
      scores[tokens.length] = -tokens.length;
      tokens.push(`t${tokens.length}`);
    }
  }
  const types = new Int32Array(vocab).fill(1);
  types[0] = 2;
  types[1] = 3;
  types[2] = 3;
  tokens.forEach((t, i) => {
    if (/^<0x[0-9A-F]{2}>$/.test(t)) types[i] = 6;
  });
  return [
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.tokens', strs(tokens)],
    ['tokenizer.ggml.scores', { type: 'array', itemType: 'float32', value: scores }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'int32', value: types }],
    ['tokenizer.ggml.bos_token_id', u32(1)],
    ['tokenizer.ggml.eos_token_id', u32(2)],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
  ];
}

/** Tensors in GGUF's llama names (PyTorch order, q/k rows already in GGUF's interleaved-pair order). */
function randomLlamaTensors(sh: LlamaShape): Array<{ name: string; shape: number[]; data: Float32Array }> {
  const { dim, layers, heads, kvHeads, ffn, vocab } = sh;
  const hd = dim / heads;
  const s = 0.02;
  const out = [{ name: 'token_embd.weight', shape: [vocab, dim], data: rand(vocab * dim, 0.1) }];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}`;
    out.push(
      { name: `${p}.attn_norm.weight`, shape: [dim], data: ones(dim) },
      { name: `${p}.attn_q.weight`, shape: [heads * hd, dim], data: rand(heads * hd * dim, s) },
      { name: `${p}.attn_k.weight`, shape: [kvHeads * hd, dim], data: rand(kvHeads * hd * dim, s) },
      { name: `${p}.attn_v.weight`, shape: [kvHeads * hd, dim], data: rand(kvHeads * hd * dim, s) },
      { name: `${p}.attn_output.weight`, shape: [dim, heads * hd], data: rand(dim * heads * hd, s) },
      { name: `${p}.ffn_norm.weight`, shape: [dim], data: ones(dim) },
      { name: `${p}.ffn_gate.weight`, shape: [ffn, dim], data: rand(ffn * dim, s) },
      { name: `${p}.ffn_up.weight`, shape: [ffn, dim], data: rand(ffn * dim, s) },
      { name: `${p}.ffn_down.weight`, shape: [dim, ffn], data: rand(dim * ffn, s) },
    );
  }
  // No output.weight: the LM head is tied to token_embd, as in llama2.c's stories checkpoints.
  out.push({ name: 'output_norm.weight', shape: [dim], data: ones(dim) });
  return out;
}

export async function llamaSubject(
  shape: 'stories15m' | 'stories110m' | 'stories260k',
  keepGguf: boolean,
): Promise<Subject> {
  const sh = LLAMA_SHAPES[shape];
  const notes: string[] = [];
  let tensors: Array<{ name: string; shape: number[]; data: Float32Array }>;
  let baseMeta: Array<[string, GgufTypedValue]>;
  let randomWeights = true;
  const extraPeerFiles: Subject['extraPeerFiles'] = [];
  if (shape === 'stories260k' && existsSync(stories260kGguf)) {
    // The real model: every tensor and key of the F32 file (GGUF v1), written again as v3.
    const f = await openGgufFile(stories260kGguf);
    try {
      tensors = [];
      for (const name of f.names())
        tensors.push({ name, shape: f.tensorInfo(name).shape, data: await f.read(name) });
      baseMeta = [...f.typedMetadata].filter(([k]) => k !== 'general.file_type' && k !== 'general.alignment');
    } finally {
      await f.close();
    }
    randomWeights = false;
    notes.push(
      `stories260K's real weights from ${stories260kGguf}, re-written as GGUF v3 (llama.cpp refuses GGUF v1)`,
      'its ffn_down rows are 172 long, not whole 32-blocks: the Q8_0 GGUF keeps ffn_down in F32 (llama.cpp needs whole blocks per row), and glasslm keeps it f32 too',
    );
    if (existsSync(stories260kGgufQ8))
      extraPeerFiles.push({
        label: "stories260K's own Q8_0 GGUF (ffn_down quantized across rows)",
        path: stories260kGgufQ8,
        kind: 'q8_0',
      });
  } else {
    if (shape === 'stories260k') notes.push(`${stories260kGguf} absent: random weights of its shape`);
    tensors = randomLlamaTensors(sh);
    baseMeta = [
      ['general.architecture', str('llama')],
      ['general.name', str(`glasslm bench ${shape} (random weights)`)],
      ['llama.context_length', u32(sh.ctx)],
      ['llama.embedding_length', u32(sh.dim)],
      ['llama.block_count', u32(sh.layers)],
      ['llama.feed_forward_length', u32(sh.ffn)],
      ['llama.rope.dimension_count', u32(sh.dim / sh.heads)],
      ['llama.attention.head_count', u32(sh.heads)],
      ['llama.attention.head_count_kv', u32(sh.kvHeads)],
      ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
      ['llama.rope.freq_base', f32(10000)],
      ...llamaTokenizerMetadata(sh.vocab),
    ];
  }
  const hasOutput = tensors.some((t) => t.name === 'output.weight');
  const files = new GgufFiles(shape, keepGguf, (kind) => ({
    opts: {
      metadata: [...baseMeta, ['general.file_type', fileType(kind)]],
      tensors: tensors.map((t) => ({
        ...t,
        type: t.shape.length === 2 ? matrixType(kind, t.shape[1], t.name, sh.layers) : 'F32',
      })),
    },
    matmul: (n) =>
      n === (hasOutput ? 'output.weight' : 'token_embd.weight') ||
      (n.startsWith('blk.') && n.endsWith('.weight') && !n.includes('_norm')),
  }));
  return {
    name: shape === 'stories15m' ? 'stories15M' : shape === 'stories110m' ? 'stories110M' : 'stories260K',
    arch: 'llama',
    vocab: sh.vocab,
    contextLength: sh.ctx,
    layers: sh.layers,
    dim: sh.dim,
    randomWeights,
    notes: [...notes, 'glasslm loads the very GGUF file handed to llama.cpp (loadModel(file, { dtype }))'],
    async decoder(kind) {
      const { path } = await files.get(kind);
      // the 4–6-bit kinds: the file's blocks are kept as they are, whatever the dtype
      return (await loadModel(path, { dtype: kind === 'q8_0' ? 'q8_0' : 'f32' })).decoder;
    },
    gguf: (kind) => files.get(kind),
    extraPeerFiles,
    cleanup: () => files.cleanup(),
  };
}

export async function makeSubject(shape: ShapeName, keepGguf: boolean): Promise<Subject> {
  return shape === 'gpt2-124m' ? gpt2Subject(keepGguf) : llamaSubject(shape, keepGguf);
}
