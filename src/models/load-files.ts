// Loading a model from files' bytes — what a browser page has (File / Blob / ArrayBuffer) — and the
// builders the Node loader (load-node.ts: paths, the hub) shares: config → weights → tokenizer → the network.
// Browser-safe: nothing here, or in what it imports, touches node: modules.
import { ggufString, openGguf, type GgufFile } from '../formats/gguf.js';
import { ggufAsHfLlama, ggufLlamaSpec } from '../formats/gguf-llama.js';
import { hfLlamaSpec, parseHfConfig, type LlamaConfig, type ModelConfig } from '../formats/hf-config.js';
import { llama2cLlamaConfig, openLlama2c, type Llama2cFile } from '../formats/llama2c.js';
import { openSafetensorsFromFiles } from '../formats/safetensors-files.js';
import type { WeightSource } from '../formats/weights.js';
import { tokenizerFromGguf } from '../tokenizers/from-gguf.js';
import {
  llama2cTokenizerName,
  loadTokenizerFromBytes,
  loadTokenizerFromFiles,
  looksLikeTokenizer,
} from '../tokenizers/load-files.js';
import type { GenerationDefaults } from '../generate/generate.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { WeightDtype } from '../tensor/index.js';
import type { ByteSource } from '../util/bytes.js';
import { GlassError } from '../util/errors.js';
import {
  baseName,
  memoryFiles,
  parseJsonFile,
  requireText,
  type FileSet,
  type NamedFile,
} from '../util/file-set.js';
import type { Decoder } from './decoder.js';
import { buildGpt2 } from './gpt2.js';
import { buildLlama, gemma3TextWeights, type LlamaSpec } from './llama.js';
import { buildMarian } from './marian.js';
import type { Seq2Seq } from './seq2seq.js';
import { buildT5 } from './t5.js';
import { LanguageModel } from './model.js';

export type { FileSet, NamedFile } from '../util/file-set.js';

export interface BytesLoadOptions {
  /** How the linear layers' weights are held: 'f32' (default), 'q8_0', 'q4_0' or 'q4_k' (see LoadOptions in load-node.ts). */
  dtype?: WeightDtype;
}

/** Builds the network for a parsed config: one line per supported family. */
export async function buildDecoder(
  config: ModelConfig,
  weights: WeightSource,
  dtype: WeightDtype = 'f32',
): Promise<Decoder> {
  switch (config.modelType) {
    case 'gpt2':
      return buildGpt2(config, weights, dtype);
    case 'llama':
      // HF checkpoints permute q/k rows for the half-split rotary convention.
      return buildLlama(
        hfLlamaSpec(config),
        config.family === 'gemma3' ? gemma3TextWeights(weights) : weights,
        'config.json',
        dtype,
      );
    case 'bert':
      throw new GlassError(
        'BAD_INPUT',
        'this is a BERT encoder (it turns text into vectors, it does not generate): use `glasslm embed` / `glasslm similarity`',
      );
    case 'marian':
    case 't5':
      throw new GlassError(
        'BAD_INPUT',
        `this is a ${config.modelType === 't5' ? 'T5' : 'Marian'} encoder-decoder: its decoder needs its encoder; load the folder with loadModel`,
      );
  }
}

/** An encoder-decoder's both halves for a parsed config (Marian, T5); null for every other family. */
export async function buildSeq2Seq(
  config: ModelConfig,
  weights: WeightSource,
  dtype: WeightDtype = 'f32',
): Promise<Seq2Seq | null> {
  if (config.modelType === 'marian') return buildMarian(config, weights, dtype);
  if (config.modelType === 't5') return buildT5(config, weights, dtype);
  return null;
}

/** `chat_template` from tokenizer_config.json: a string, or a list of named templates ('default' wins). */
async function readChatTemplate(files: FileSet): Promise<string | undefined> {
  const text = await files.text('tokenizer_config.json');
  if (text === undefined) return undefined;
  const cfg = parseJsonFile(text, files.path('tokenizer_config.json')) as { chat_template?: unknown };
  const t = cfg.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as Array<{ name?: string; template?: string }>;
    return (named.find((x) => x.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

/**
 * Generation defaults from generation_config.json (HF's GenerationConfig): only the keys it sets —
 * `do_sample: false` means greedy, `temperature`, `top_k`, `top_p`; beam search's `num_beams` (taken
 * unless `do_sample: true`: HF's beam sampling is not implemented), `length_penalty`, `early_stopping`
 * (true, false or "never"); `no_repeat_ngram_size`.
 *
 * `hfSampling`: where do_sample is not said (or there is no generation_config.json), take HF's own default,
 * do_sample = false, i.e. greedy — used for encoder-decoders (a T5 folder rarely says it, and translation
 * is greedy or beam search in transformers). A decoder-only model without the key keeps glasslm's default
 * of sampling.
 */
export async function readGenerationDefaults(
  files: FileSet,
  hfSampling = false,
): Promise<GenerationDefaults> {
  const text = await files.text('generation_config.json');
  if (text === undefined) return hfSampling ? { greedy: true } : {};
  const g = parseJsonFile(text, files.path('generation_config.json')) as Record<string, unknown>;
  const out: GenerationDefaults = {};
  const num = (k: string, min: number, max = Infinity) => {
    const v = g[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
      throw new GlassError(
        'BAD_FILE',
        `${files.path('generation_config.json')}: "${k}" must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`,
      );
    return v;
  };
  if (g.do_sample === false || (hfSampling && g.do_sample === undefined)) out.greedy = true;
  const t = num('temperature', 0);
  if (t !== undefined && !out.greedy) out.temperature = t;
  const k = num('top_k', 0);
  if (k !== undefined) out.topK = Math.floor(k);
  const p = num('top_p', 0, 1);
  if (p !== undefined) out.topP = p;
  const beams = num('num_beams', 1);
  if (beams !== undefined && g.do_sample !== true) out.numBeams = Math.floor(beams);
  const lp = num('length_penalty', -Infinity);
  if (lp !== undefined) out.lengthPenalty = lp;
  const es = g.early_stopping;
  if (es === true || es === false || es === 'never') out.earlyStopping = es;
  else if (es !== undefined && es !== null)
    throw new GlassError(
      'BAD_FILE',
      `${files.path('generation_config.json')}: "early_stopping" must be true, false or "never", got ${JSON.stringify(es)}`,
    );
  const ng = num('no_repeat_ngram_size', 0);
  if (ng !== undefined) out.noRepeatNgramSize = Math.floor(ng);
  return out;
}

/** The LlamaConfig (config.json's shape) of a LlamaSpec from a file that carries no config.json (GGUF, llama2.c). */
function llamaConfigFrom(
  spec: LlamaSpec,
  bos: number | undefined,
  eos: number | undefined,
  raw: Record<string, unknown>,
): LlamaConfig {
  return {
    modelType: 'llama',
    family: 'llama',
    vocabSize: spec.vocabSize,
    contextLength: spec.contextLength,
    dim: spec.dim,
    nLayers: spec.nLayers,
    nHeads: spec.nHeads,
    nKvHeads: spec.nKvHeads,
    headDim: spec.headDim,
    ffnDim: spec.ffnDim,
    normEps: spec.normEps,
    ropeTheta: spec.ropeTheta,
    ...(spec.ropeDim !== undefined && spec.ropeDim !== spec.headDim && { ropeDim: spec.ropeDim }),
    ...(spec.ropeScaling && { ropeScaling: spec.ropeScaling }),
    attentionBias: false,
    tieWordEmbeddings: spec.tieWordEmbeddings,
    bosTokenId: bos,
    eosTokenId: eos,
    raw,
  };
}

function checkVocab(where: string, tokenizer: Tokenizer, decoder: Decoder): void {
  if (tokenizer.vocabSize > decoder.vocabSize) {
    throw new GlassError(
      'BAD_FILE',
      `${where}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${decoder.vocabSize}`,
    );
  }
}

/** A Hugging Face model's files: config.json, safetensors weights, a tokenizer, tokenizer_config.json. */
export async function modelFromHfFiles(
  files: FileSet,
  source: string,
  dtype?: WeightDtype,
): Promise<LanguageModel> {
  const configPath = files.path('config.json');
  const configText = await requireText(files, 'config.json', 'a model folder needs config.json');
  const config = parseHfConfig(parseJsonFile(configText, configPath), configPath);
  const tokenizer = await loadTokenizerFromFiles(files);
  const weights = await openSafetensorsFromFiles(files);
  try {
    // an encoder-decoder (Marian, T5) is both halves; every other family is a decoder
    const seq2seq = await buildSeq2Seq(config, weights, dtype);
    const decoder = seq2seq ? seq2seq.decoder : await buildDecoder(config, weights, dtype);
    checkVocab(source, tokenizer, decoder);
    return new LanguageModel({
      config,
      tokenizer,
      decoder,
      seq2seq,
      source,
      // SentencePiece-era models (Llama) start every prompt with BOS; GPT-2 does not.
      addBos: config.modelType === 'llama',
      chatTemplate: await readChatTemplate(files),
      generationDefaults: await readGenerationDefaults(files, seq2seq !== null),
    });
  } finally {
    await weights.close();
  }
}

/** A parsed GGUF file (tokenizer from its metadata unless one is given). Does not close the file. */
export async function modelFromGguf(
  file: GgufFile,
  source: string,
  tokenizer?: Tokenizer,
  dtype?: WeightDtype,
): Promise<LanguageModel> {
  const spec = await ggufLlamaSpec(file);
  const tok = tokenizer ?? tokenizerFromGguf(file);
  const decoder = await buildLlama(spec, ggufAsHfLlama(file), 'the GGUF metadata', dtype);
  checkVocab(source, tok, decoder);
  const template = file.metadata.get('tokenizer.chat_template');
  return new LanguageModel({
    config: {
      ...llamaConfigFrom(spec, spec.bosTokenId, spec.eosTokenId, {
        'general.architecture': ggufString(file, 'general.architecture'),
      }),
      family: spec.arch, // llama, phi3, qwen3, gemma2, gemma3
    },
    tokenizer: tok,
    decoder,
    source,
    addBos: true,
    chatTemplate: typeof template === 'string' ? template : undefined,
  });
}

/** A parsed llama2.c checkpoint and its tokenizer (it carries none). Does not close the file. */
export async function modelFromLlama2c(
  file: Llama2cFile,
  source: string,
  tokenizer: Tokenizer,
  dtype?: WeightDtype,
): Promise<LanguageModel> {
  const spec = llama2cLlamaConfig(file);
  const decoder = await buildLlama(spec, file, `the header of ${baseName(source)}`, dtype);
  checkVocab(source, tokenizer, decoder);
  return new LanguageModel({
    config: llamaConfigFrom(spec, tokenizer.specialTokens.bos, tokenizer.specialTokens.eos, {
      llama2c: file.config,
    }),
    tokenizer,
    decoder,
    source,
    addBos: true,
  });
}

/** The tokenizer files a llama2.c checkpoint is paired with, in the order they are looked for. */
export function llama2cTokenizerCandidates(vocabSize: number): string[] {
  return [`tok${vocabSize}.bin`, 'tokenizer.bin', 'tokenizer.model', 'tokenizer.json'];
}

/**
 * The tokenizer for a llama2.c checkpoint among `files`: tok<vocab>.bin, tokenizer.bin, tokenizer.model or
 * tokenizer.json; else (`anyOther`) the one other file there that reads as a tokenizer. Undefined when none.
 */
export async function findLlama2cTokenizer(
  files: FileSet,
  vocabSize: number,
  anyOther?: { except: string },
): Promise<Tokenizer | undefined> {
  for (const c of llama2cTokenizerCandidates(vocabSize)) {
    const bytes = await files.bytes(c);
    if (bytes !== undefined) return loadTokenizerFromBytes(bytes, files.path(c));
  }
  if (!anyOther) return undefined;
  const names = (await files.list()).filter((n) => n !== anyOther.except);
  const bin = llama2cTokenizerName(names);
  const pick = bin ? [bin] : names;
  const found: Array<{ name: string; bytes: Uint8Array }> = [];
  for (const n of pick) {
    const bytes = await files.bytes(n);
    if (bytes !== undefined && looksLikeTokenizer(bytes, n)) found.push({ name: n, bytes });
  }
  if (found.length === 1) return loadTokenizerFromBytes(found[0].bytes, files.path(found[0].name));
  if (found.length > 1) {
    throw new GlassError(
      'BAD_INPUT',
      `${files.name}: which is the tokenizer for ${anyOther.except}? ${found.map((f) => f.name).join(', ')} all could be; pass one`,
    );
  }
  return undefined;
}

// ---- from bytes ---------------------------------------------------------------------------------

async function head(src: ByteSource, n: number): Promise<Uint8Array> {
  return src.read(0, Math.min(n, src.size));
}

const isGgufMagic = (b: Uint8Array) =>
  b.length >= 4 && b[0] === 0x47 && b[1] === 0x47 && b[2] === 0x55 && b[3] === 0x46; // "GGUF"

/** Files that are a Hugging Face folder's metadata or tokenizer, never a llama2.c checkpoint. */
const NOT_A_CHECKPOINT = /\.(json|txt|model|spm|bpe|safetensors|md)$/i;

/**
 * Loads a model from its files' bytes (browser uploads: `input.files` can be passed as they are; Node:
 * `{ name, bytes }`). What the files are decides how:
 * - a GGUF file (its tokenizer from its metadata; other files are ignored);
 * - `config.json` with `model.safetensors` (or an index and its shards) and `tokenizer.json` (or
 *   `vocab.json` + `merges.txt`, `tokenizer.model`): a Hugging Face GPT-2 / Llama folder;
 * - a llama2.c checkpoint (`.bin`) and its tokenizer (`tok512.bin`, `tokenizer.bin`, … or the one other file
 *   that reads as a tokenizer).
 * Names count only by their last part ("folder/config.json" is config.json).
 */
export async function loadModelFromFiles(
  files: ReadonlyArray<NamedFile | File>,
  options: BytesLoadOptions = {},
): Promise<LanguageModel> {
  const set = memoryFiles(files);
  const names = await set.list();
  if (!names.length) throw new GlassError('BAD_INPUT', 'no files: pass a model’s files');

  // GGUF: by magic (any name), or by name (a bad or empty *.gguf is a GGUF problem, not a llama2.c one).
  for (const n of names) {
    const src = (await set.source(n))!;
    if (/\.gguf$/i.test(n) || isGgufMagic(await head(src, 4))) {
      const file = await openGguf(src);
      try {
        return await modelFromGguf(file, n, undefined, options.dtype);
      } finally {
        await file.close();
      }
    }
  }

  if (await set.has('config.json')) return modelFromHfFiles(set, set.name, options.dtype);

  // llama2.c: the largest file that is not a folder's metadata, tokenizer or safetensors.
  const sizes: Array<{ name: string; size: number }> = [];
  for (const n of names) {
    if (NOT_A_CHECKPOINT.test(n) || llama2cTokenizerName([n])) continue;
    sizes.push({ name: n, size: (await set.source(n))!.size });
  }
  sizes.sort((a, b) => b.size - a.size);
  const ckpt = sizes[0]?.name;
  if (ckpt === undefined) {
    const hf = names.some((n) => /\.safetensors$|^tokenizer\.json$|^vocab\.json$/.test(n));
    throw new GlassError(
      'BAD_INPUT',
      hf
        ? `${set.name}: a Hugging Face model needs its config.json too (with model.safetensors and tokenizer.json or vocab.json + merges.txt)`
        : `${set.name}: no model among these files (expected a .gguf file, a llama2.c checkpoint .bin with its tokenizer, or a Hugging Face folder's config.json, model.safetensors and tokenizer.json)`,
    );
  }
  const file = await openLlama2c((await set.source(ckpt))!);
  try {
    const vocab = llama2cLlamaConfig(file).vocabSize;
    const tokenizer = await findLlama2cTokenizer(set, vocab, { except: ckpt });
    if (!tokenizer) {
      throw new GlassError(
        'NOT_FOUND',
        `${ckpt}: a llama2.c checkpoint has no tokenizer; add its tokenizer file (${llama2cTokenizerCandidates(vocab).join(', ')})`,
      );
    }
    return await modelFromLlama2c(file, ckpt, tokenizer, options.dtype);
  } finally {
    await file.close();
  }
}
