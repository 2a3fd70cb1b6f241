// llama2.c checkpoints (https://github.com/karpathy/llama2.c, export.py / run.c / runq.c), read through a
// ByteSource. Pure: no Node APIs. Tensors are exposed under Hugging Face Llama names, so one loader reads
// safetensors, GGUF and llama2.c alike — but q/k rows stay in llama2.c's interleaved-pair RoPE convention
// (Meta's original layout), not HF's permuted half-split one: see `ropeStyle`.
//
// Version 0 (legacy_export, run.c): 7 × int32 header
//     dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: a separate classifier follows), seq_len
//   then float32: tok_embeddings [vocab, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kvDim, dim],
//   wv [L, kvDim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden],
//   w3 [L, hidden, dim], rms_final [dim], freq_cis_real [seq_len, head_size/2], freq_cis_imag [same],
//   then wcls [vocab, dim] when not shared.
// Version 1 (version1_export): a 256-byte header — u32 magic 0x616b3432 ("ak42" as bytes "24ka"),
//   int32 version 1, the 7 int32 params (vocab_size positive), u8 shared_classifier, zero padding — then
//   float32: attention norms [L, dim], ffn norms [L, dim], final norm [dim], tok_embeddings, wq, wk, wv, wo,
//   w1, w2, w3 (each for all layers), then wcls when not shared. No freq_cis.
// Version 2 (version2_export, runq.c): like version 1 plus int32 group_size after the flag; float32 norms
//   (attention, ffn, final), then for each of tok_embeddings, wq…w3 (per layer), wcls (when not shared):
//   int8 values then their float32 scales, one per group of group_size values (x = q · scale).
//   (An early export.py wrote all int8 blocks first and all scales after; runq.c, and this reader, expect
//   each tensor's scales right after its values.)
import type { ByteSource } from '../util/bytes.js';
import { GlassError } from '../util/errors.js';
import { MAX_CONTEXT_LENGTH } from '../nn/positional.js';
import { LITTLE_ENDIAN } from '../util/half.js';
import { checkLlamaSpec, type LlamaSpec } from './llama-spec.js';
import { readTarget, type TensorInfo, type WeightSource } from './weights.js';

export const LLAMA2C_MAGIC = 0x616b3432;
export const LLAMA2C_HEADER_BYTES = 256;

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Always positive (the legacy header's sign is turned into `sharedClassifier`). */
  vocabSize: number;
  seqLen: number;
  /** The LM head is the token embedding (no separate classifier in the file). */
  sharedClassifier: boolean;
  /** 0 = legacy (headerless), 1 = float32 "ak42", 2 = Q8_0 "ak42". */
  version: 0 | 1 | 2;
  /** Version 2 only: values per quantization group. */
  groupSize?: number;
}

export interface Llama2cFile extends WeightSource {
  readonly config: Llama2cConfig;
  /**
   * llama2.c's q/k weights pair dimensions (2i, 2i+1) within each head for RoPE (Meta's original layout).
   * HF checkpoints permute q/k rows to pair (i, i + head_size/2) instead ('half').
   */
  readonly ropeStyle: 'interleaved';
  /** Bytes before the first tensor (28 for version 0, 256 after). */
  readonly headerBytes: number;
}

/** The LlamaSpec of a llama2.c header, with what run.c hard-codes: RMSNorm eps 1e-5, RoPE theta 10000 on interleaved pairs. */
export function llama2cLlamaConfig(c: Llama2cConfig | Llama2cFile): LlamaSpec {
  const cfg = 'config' in c ? c.config : c;
  return {
    dim: cfg.dim,
    nLayers: cfg.nLayers,
    nHeads: cfg.nHeads,
    nKvHeads: cfg.nKvHeads,
    headDim: cfg.dim / cfg.nHeads,
    ffnDim: cfg.hiddenDim,
    vocabSize: cfg.vocabSize,
    contextLength: cfg.seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeStyle: 'interleaved',
    tieWordEmbeddings: cfg.sharedClassifier,
  };
}

interface Entry {
  name: string;
  shape: number[];
  count: number;
  offset: number;
  /** 'f32', or int8 values with float32 scales at `scaleOffset`. */
  kind: 'f32' | 'q8';
  scaleOffset: number;
}

interface Piece {
  name: string;
  shape: number[];
  /** Quantized in version 2 (the norms stay float32). */
  quant: boolean;
  /** Not exposed as a tensor (version 0's freq_cis tables). */
  hidden?: boolean;
}

/** The tensors of a checkpoint, in file order, with HF names. */
function pieces(c: Llama2cConfig): Piece[] {
  const { dim, hiddenDim: h, nLayers: L, vocabSize: V } = c;
  const kvDim = (dim / c.nHeads) * c.nKvHeads;
  const layers = (suffix: string, shape: number[], quant: boolean): Piece[] =>
    Array.from({ length: L }, (_, i) => ({ name: `model.layers.${i}.${suffix}.weight`, shape, quant }));
  const embed: Piece = { name: 'model.embed_tokens.weight', shape: [V, dim], quant: true };
  const attnNorm = layers('input_layernorm', [dim], false);
  const ffnNorm = layers('post_attention_layernorm', [dim], false);
  const finalNorm: Piece = { name: 'model.norm.weight', shape: [dim], quant: false };
  const wq = layers('self_attn.q_proj', [dim, dim], true);
  const wk = layers('self_attn.k_proj', [kvDim, dim], true);
  const wv = layers('self_attn.v_proj', [kvDim, dim], true);
  const wo = layers('self_attn.o_proj', [dim, dim], true);
  const w1 = layers('mlp.gate_proj', [h, dim], true);
  const w2 = layers('mlp.down_proj', [dim, h], true);
  const w3 = layers('mlp.up_proj', [h, dim], true);
  const cls: Piece[] = c.sharedClassifier ? [] : [{ name: 'lm_head.weight', shape: [V, dim], quant: true }];
  if (c.version === 0) {
    const half = dim / c.nHeads / 2;
    return [
      embed,
      ...attnNorm,
      ...wq,
      ...wk,
      ...wv,
      ...wo,
      ...ffnNorm,
      ...w1,
      ...w2,
      ...w3,
      finalNorm,
      { name: 'freq_cis_real', shape: [c.seqLen, half], quant: false, hidden: true },
      { name: 'freq_cis_imag', shape: [c.seqLen, half], quant: false, hidden: true },
      ...cls,
    ];
  }
  return [...attnNorm, ...ffnNorm, finalNorm, embed, ...wq, ...wk, ...wv, ...wo, ...w1, ...w2, ...w3, ...cls];
}

/** Lays the checkpoint out; returns the entries and the exact file size they imply. */
function layout(c: Llama2cConfig, headerBytes: number): { entries: Entry[]; size: number } {
  const entries: Entry[] = [];
  let at = headerBytes;
  const all = pieces(c);
  // Version 2: float32 norms first, then each quantized tensor (values, then scales).
  const ordered = c.version === 2 ? [...all.filter((p) => !p.quant), ...all.filter((p) => p.quant)] : all;
  for (const p of ordered) {
    const count = p.shape.reduce((a, b) => a * b, 1);
    if (c.version === 2 && p.quant) {
      const gs = c.groupSize!;
      entries.push({ name: p.name, shape: p.shape, count, offset: at, kind: 'q8', scaleOffset: at + count });
      at += count + (count / gs) * 4;
    } else {
      if (!p.hidden)
        entries.push({ name: p.name, shape: p.shape, count, offset: at, kind: 'f32', scaleOffset: 0 });
      at += count * 4;
    }
  }
  return { entries, size: at };
}

/** The exact file size a config implies, by formula (no per-layer tables); may be unsafe for absurd headers. */
function expectedSize(c: Llama2cConfig, headerBytes: number): number {
  const { dim, hiddenDim: h, nLayers: L, vocabSize: V } = c;
  const kvDim = (dim / c.nHeads) * c.nKvHeads;
  const norms = 2 * L * dim + dim;
  const mats = [V * dim, ...(c.sharedClassifier ? [] : [V * dim])];
  const perLayer = [dim * dim, kvDim * dim, kvDim * dim, dim * dim, h * dim, dim * h, h * dim];
  const matCount = mats.reduce((a, b) => a + b, 0) + L * perLayer.reduce((a, b) => a + b, 0);
  if (c.version === 2) return headerBytes + 4 * norms + matCount + (matCount / c.groupSize!) * 4;
  const freq = c.version === 0 ? 2 * c.seqLen * (dim / c.nHeads / 2) : 0;
  return headerBytes + 4 * (norms + matCount + freq);
}

/** Opens a llama2.c checkpoint (version 0, 1 or 2): validates the header and the exact file size. */
export async function openLlama2c(src: ByteSource): Promise<Llama2cFile> {
  const file = src.name;
  const bad = (msg: string) => new GlassError('BAD_FILE', `${file}: ${msg}`);
  if (src.size < 28) {
    throw bad(`the file is ${src.size} bytes, too short for a llama2.c header (expected at least 28 bytes)`);
  }
  const head = await src.read(
    0,
    Math.min(src.size, LLAMA2C_HEADER_BYTES),
    new Uint8Array(Math.min(src.size, LLAMA2C_HEADER_BYTES)),
  );
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let version: 0 | 1 | 2 = 0;
  let p = 0;
  let headerBytes = 28;
  if (dv.getUint32(0, true) === LLAMA2C_MAGIC) {
    const v = dv.getInt32(4, true);
    if (v !== 1 && v !== 2) {
      throw new GlassError(
        'UNSUPPORTED',
        `${file}: llama2.c checkpoint version ${v} is not supported (expected 0, 1 or 2)`,
      );
    }
    version = v;
    headerBytes = LLAMA2C_HEADER_BYTES;
    if (src.size < headerBytes) {
      throw bad(
        `the file is ${src.size} bytes, too short for a llama2.c version ${v} header (expected ${headerBytes} bytes)`,
      );
    }
    p = 8;
  }
  const fields = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;
  const raw = fields.map((_, i) => dv.getInt32(p + 4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = raw;
  const shown = fields.map((f, i) => `${f} ${raw[i]}`).join(', ');
  let sharedClassifier: boolean;
  let groupSize: number | undefined;
  if (version === 0) {
    sharedClassifier = rawVocab > 0;
  } else {
    const flag = dv.getUint8(36);
    if (flag > 1) throw bad(`shared_classifier flag is ${flag} (expected 0 or 1)`);
    sharedClassifier = flag === 1;
    if (version === 2) groupSize = dv.getInt32(37, true);
  }
  const vocabSize = Math.abs(rawVocab);
  for (const [i, v] of raw.entries()) {
    if (!(v > 0 || (i === 5 && v < 0 && version === 0))) {
      throw bad(
        `header field ${fields[i]} is ${v} (expected a positive integer; header: ${shown}); not a llama2.c checkpoint?`,
      );
    }
  }
  if (dim % nHeads !== 0) throw bad(`n_heads ${nHeads} does not divide dim ${dim} (header: ${shown})`);
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw bad(`n_kv_heads ${nKvHeads} does not divide n_heads ${nHeads} (header: ${shown})`);
  }
  if ((dim / nHeads) % 2 !== 0)
    throw bad(`head size ${dim / nHeads} is odd (expected an even head size for RoPE; header: ${shown})`);
  if (seqLen > MAX_CONTEXT_LENGTH)
    throw bad(
      `seq_len ${seqLen} is above ${MAX_CONTEXT_LENGTH}, the longest context accepted (header: ${shown})`,
    );
  if (version === 2) {
    if (groupSize === undefined || groupSize <= 0)
      throw bad(`group_size is ${groupSize} (expected a positive integer)`);
  }
  const config: Llama2cConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize,
    seqLen,
    sharedClassifier,
    version,
  };
  if (groupSize !== undefined) config.groupSize = groupSize;

  // The size check comes first and by formula: a corrupt header (say 2^31 layers) must not make us
  // build per-layer tables before we know the file really holds them.
  const kvDim = (dim / nHeads) * nKvHeads;
  const matrices = [vocabSize * dim, dim * dim, kvDim * dim, hiddenDim * dim];
  if (version === 2) {
    for (const count of matrices) {
      if (count % groupSize! !== 0) {
        throw bad(
          `a weight matrix has ${count} values, not a multiple of group_size ${groupSize} (header: ${shown})`,
        );
      }
    }
  }
  const size = expectedSize(config, headerBytes);
  if (!Number.isSafeInteger(size)) throw bad(`the header (${shown}) implies an absurd size; corrupt header`);
  if (size !== src.size) {
    const why = size > src.size ? 'truncated?' : 'trailing data, or a header that does not match the weights';
    throw bad(
      `the header (version ${version}: ${shown}${version === 2 ? `, group_size ${groupSize}` : ''}) implies ${size} bytes but the file is ${src.size} bytes (${why})`,
    );
  }
  checkLlamaSpec(llama2cLlamaConfig(config), file, 'the llama2.c header');
  const laid = layout(config, headerBytes);
  if (laid.size !== size) throw new Error(`internal: llama2.c layout ${laid.size} != ${size}`);
  const { entries } = laid;

  const byName = new Map(entries.map((e) => [e.name, e]));
  const order = entries.map((e) => e.name);
  const get = (name: string): Entry => {
    const e = byName.get(name);
    if (!e) {
      const hint =
        name === 'lm_head.weight' && sharedClassifier
          ? ' (the classifier is shared with model.embed_tokens.weight)'
          : '';
      throw new GlassError(
        'NOT_FOUND',
        `${file}: no tensor "${name}"${hint} (the file has ${order.length} tensors)`,
      );
    }
    return e;
  };
  return {
    name: file,
    config,
    ropeStyle: 'interleaved',
    headerBytes,
    names: () => order.slice(),
    has: (name) => byName.has(name),
    info(name): TensorInfo {
      const e = get(name);
      return { name, dtype: e.kind === 'f32' ? 'F32' : `Q8_G${groupSize}`, shape: e.shape.slice(), file };
    },
    read: async (name, into) => readEntry(src, get(name), groupSize ?? 1, into),
    async close() {
      await src.close?.();
    },
  };
}

async function readF32(
  src: ByteSource,
  offset: number,
  count: number,
  out: Float32Array = new Float32Array(count),
): Promise<Float32Array> {
  const dst = new Uint8Array(out.buffer, out.byteOffset, count * 4);
  const got = await src.read(offset, count * 4, dst);
  if (got !== dst) dst.set(got.subarray(0, dst.length));
  if (!LITTLE_ENDIAN) {
    const dv = new DataView(out.buffer, out.byteOffset, count * 4);
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
  }
  return out;
}

async function readEntry(src: ByteSource, e: Entry, gs: number, into?: Float32Array): Promise<Float32Array> {
  const out = readTarget(src.name, e.name, e.count, into);
  if (e.kind === 'f32') return readF32(src, e.offset, e.count, out);
  const q = await src.read(e.offset, e.count, new Uint8Array(e.count));
  const scales = await readF32(src, e.scaleOffset, e.count / gs);
  for (let g = 0, i = 0; g < scales.length; g++) {
    const s = scales[g];
    for (let j = 0; j < gs; j++, i++) out[i] = ((q[i] << 24) >> 24) * s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Writing (tests, conversions).

export interface Llama2cWriteOptions {
  config: Omit<Llama2cConfig, 'version' | 'groupSize'>;
  version: 0 | 1 | 2;
  /** Version 2: values per quantization group (default 64, halved until it divides dim, as export.py does). */
  groupSize?: number;
  /** Tensors by HF name, as openLlama2c names them; lm_head.weight only when not shared. */
  weights: Record<string, Float32Array>;
}

/**
 * Serialises a checkpoint the way llama2.c's export.py does (version 0: legacy_export with freq_cis tables for
 * RoPE theta 10000; 1: version1_export; 2: version2_export with runq.c's value-then-scales order and
 * round-half-to-even like torch.round). Throws BAD_INPUT for a missing or mis-sized tensor.
 */
export function writeLlama2c(opts: Llama2cWriteOptions): Uint8Array {
  const { version } = opts;
  let groupSize: number | undefined;
  if (version === 2) {
    groupSize = opts.groupSize ?? 64;
    if (opts.groupSize === undefined)
      while (groupSize > 1 && opts.config.dim % groupSize !== 0) groupSize /= 2;
  }
  const config: Llama2cConfig = {
    ...opts.config,
    version,
    ...(groupSize !== undefined ? { groupSize } : {}),
  };
  const headerBytes = version === 0 ? 28 : LLAMA2C_HEADER_BYTES;
  const c0 = opts.config;
  const ints = [c0.dim, c0.hiddenDim, c0.nLayers, c0.nHeads, c0.nKvHeads, c0.vocabSize, c0.seqLen];
  if (
    !ints.every((v) => Number.isInteger(v) && v > 0 && v < 2 ** 31) ||
    c0.dim % c0.nHeads !== 0 ||
    c0.nHeads % c0.nKvHeads !== 0
  ) {
    throw new GlassError('BAD_INPUT', `llama2.c writer: invalid config ${JSON.stringify(c0)}`);
  }
  const size = expectedSize(config, headerBytes);
  if (!Number.isSafeInteger(size))
    throw new GlassError('BAD_INPUT', 'llama2.c writer: the config implies an absurd size');
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let p = 0;
  if (version !== 0) {
    dv.setUint32(0, LLAMA2C_MAGIC, true);
    dv.setInt32(4, version, true);
    p = 8;
  }
  const c = config;
  const vocabField = version === 0 && !c.sharedClassifier ? -c.vocabSize : c.vocabSize;
  for (const v of [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, vocabField, c.seqLen]) {
    dv.setInt32(p, v, true);
    p += 4;
  }
  if (version !== 0) dv.setUint8(36, c.sharedClassifier ? 1 : 0);
  if (version === 2) dv.setInt32(37, groupSize!, true);

  const all = pieces(config);
  const ordered = version === 2 ? [...all.filter((x) => !x.quant), ...all.filter((x) => x.quant)] : all;
  let at = headerBytes;
  for (const pc of ordered) {
    const count = pc.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (pc.hidden) data = freqCis(c, pc.name === 'freq_cis_real');
    else {
      const w = opts.weights[pc.name];
      if (!w)
        throw new GlassError(
          'BAD_INPUT',
          `llama2.c writer: tensor "${pc.name}" is missing (expected shape [${pc.shape}])`,
        );
      if (w.length !== count) {
        throw new GlassError(
          'BAD_INPUT',
          `llama2.c writer: tensor "${pc.name}" has ${w.length} values (expected shape [${pc.shape}] = ${count})`,
        );
      }
      data = w;
    }
    if (version === 2 && pc.quant) {
      const gs = groupSize!;
      for (let g = 0; g < count / gs; g++) {
        let wmax = 0;
        for (let j = 0; j < gs; j++) wmax = Math.max(wmax, Math.abs(data[g * gs + j]));
        const scale = Math.fround(wmax / 127);
        for (let j = 0; j < gs; j++) {
          const q = scale === 0 ? 0 : roundHalfEven(Math.fround(data[g * gs + j] / scale));
          out[at + g * gs + j] = q & 0xff;
        }
        dv.setFloat32(at + count + 4 * g, scale, true);
      }
      at += count + (count / gs) * 4;
    } else {
      for (let i = 0; i < count; i++) dv.setFloat32(at + 4 * i, data[i], true);
      at += count * 4;
    }
  }
  return out;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Version 0's RoPE tables: cos/sin(pos · 10000^(−2i/head_size)) for pos < seq_len, i < head_size/2. */
function freqCis(c: Llama2cConfig, real: boolean): Float32Array {
  const hs = c.dim / c.nHeads;
  const half = hs / 2;
  const out = new Float32Array(c.seqLen * half);
  for (let t = 0; t < c.seqLen; t++) {
    for (let i = 0; i < half; i++) {
      const f = Math.fround(1 / Math.fround(Math.pow(10000, Math.fround((2 * i) / hs))));
      const a = Math.fround(t * f);
      out[t * half + i] = real ? Math.cos(a) : Math.sin(a);
    }
  }
  return out;
}
