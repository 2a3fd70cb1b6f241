// Loading a model (Node): a hub id or folder (Hugging Face layout), a GGUF file, or a llama2.c checkpoint
// → config → weights → tokenizer → the network assembled from nn blocks.
import { existsSync, statSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ggufAsHfLlama, ggufLlamaConfig, ggufString } from '../formats/gguf.js';
import { openGgufFile } from '../formats/gguf-node.js';
import { parseHfConfig, type LlamaConfig, type ModelConfig } from '../formats/hf-config.js';
import { resolveModel } from '../formats/hub.js';
import { llama2cLlamaConfig } from '../formats/llama2c.js';
import { openLlama2cFile } from '../formats/llama2c-node.js';
import type { WeightSource } from '../formats/safetensors.js';
import { openSafetensorsFolder } from '../formats/safetensors-node.js';
import { tokenizerFromGguf } from '../tokenizers/from-gguf.js';
import { loadTokenizerFromFile, loadTokenizerFromFolder } from '../tokenizers/load-node.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { WeightDtype } from '../tensor/index.js';
import { GlassError } from '../util/errors.js';
import type { Decoder } from './decoder.js';
import { buildGpt2 } from './gpt2.js';
import { buildLlama, type LlamaSpec } from './llama.js';
import { LanguageModel } from './model.js';

export interface LoadOptions {
  revision?: string;
  /** A tokenizer file for checkpoints that carry none (llama2.c .bin). */
  tokenizer?: string;
  onProgress?: (p: { file: string; received: number; total: number }) => void;
  /**
   * How the linear layers' weights are held: 'f32' (default) or 'q8_0' (GGUF's int8 blocks of 32, a
   * quarter of the memory, faster decode on the wasm backend; matrices whose rows are not whole blocks
   * stay f32). Matrices are placed by the backend active at load time: call setBackend first.
   */
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
      return buildLlama({ ...config, ropeStyle: 'half' }, weights, 'config.json', dtype);
    case 'bert':
      throw new GlassError(
        'BAD_INPUT',
        'this is a BERT encoder (it turns text into vectors, it does not generate): use `glasslm embed` / `glasslm similarity`',
      );
  }
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new GlassError('NOT_FOUND', `${path}: not found (a model folder needs config.json)`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GlassError('BAD_FILE', `${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** `chat_template` from tokenizer_config.json: a string, or a list of named templates ('default' wins). */
async function readChatTemplate(dir: string): Promise<string | undefined> {
  const path = join(dir, 'tokenizer_config.json');
  if (!existsSync(path)) return undefined;
  const cfg = (await readJson(path)) as { chat_template?: unknown };
  const t = cfg.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as Array<{ name?: string; template?: string }>;
    return (named.find((x) => x.name === 'default') ?? named[0])?.template;
  }
  return undefined;
}

/** A LlamaConfig for files that carry no config.json (GGUF, llama2.c). */
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

async function loadFolder(dir: string, options: LoadOptions): Promise<LanguageModel> {
  const configPath = join(dir, 'config.json');
  const config = parseHfConfig(await readJson(configPath), configPath);
  const tokenizer = await loadTokenizerFromFolder(dir);
  const weights = await openSafetensorsFolder(dir);
  try {
    const decoder = await buildDecoder(config, weights, options.dtype);
    checkVocab(dir, tokenizer, decoder);
    return new LanguageModel({
      config,
      tokenizer,
      decoder,
      source: dir,
      // SentencePiece-era models (Llama) start every prompt with BOS; GPT-2 does not.
      addBos: config.modelType === 'llama',
      chatTemplate: await readChatTemplate(dir),
    });
  } finally {
    await weights.close();
  }
}

async function loadGguf(path: string, options: LoadOptions): Promise<LanguageModel> {
  const file = await openGgufFile(path);
  try {
    const spec = ggufLlamaConfig(file);
    const tokenizer = options.tokenizer
      ? await loadTokenizerFromFile(options.tokenizer)
      : tokenizerFromGguf(file);
    const decoder = await buildLlama(
      { ...spec, ropeDim: spec.ropeDim },
      ggufAsHfLlama(file),
      'the GGUF metadata',
      options.dtype,
    );
    checkVocab(path, tokenizer, decoder);
    const template = file.metadata.get('tokenizer.chat_template');
    return new LanguageModel({
      config: llamaConfigFrom(spec, spec.bosTokenId, spec.eosTokenId, {
        'general.architecture': ggufString(file, 'general.architecture'),
      }),
      tokenizer,
      decoder,
      source: path,
      addBos: true,
      chatTemplate: typeof template === 'string' ? template : undefined,
    });
  } finally {
    await file.close();
  }
}

/** llama2.c checkpoints carry no tokenizer: --tokenizer, else tokenizer.bin or tok<vocab>.bin beside the file. */
async function findLlama2cTokenizer(path: string, vocabSize: number, given?: string): Promise<Tokenizer> {
  if (given) return loadTokenizerFromFile(given);
  const dir = dirname(path);
  const candidates = [`tok${vocabSize}.bin`, 'tokenizer.bin', 'tokenizer.model', 'tokenizer.json'];
  for (const c of candidates) if (existsSync(join(dir, c))) return loadTokenizerFromFile(join(dir, c));
  throw new GlassError(
    'NOT_FOUND',
    `${path}: a llama2.c checkpoint has no tokenizer; pass --tokenizer <file> (looked for ${candidates.join(', ')} in ${dir})`,
  );
}

async function loadLlama2c(path: string, options: LoadOptions): Promise<LanguageModel> {
  const file = await openLlama2cFile(path);
  try {
    const spec = llama2cLlamaConfig(file);
    const tokenizer = await findLlama2cTokenizer(path, spec.vocabSize, options.tokenizer);
    const decoder = await buildLlama(spec, file, `the header of ${basename(path)}`, options.dtype);
    checkVocab(path, tokenizer, decoder);
    return new LanguageModel({
      config: llamaConfigFrom(spec, tokenizer.specialTokens.bos, tokenizer.specialTokens.eos, {
        llama2c: file.config,
      }),
      tokenizer,
      decoder,
      source: path,
      addBos: true,
    });
  } finally {
    await file.close();
  }
}

async function magic(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b.toString('latin1');
  } finally {
    await fh.close();
  }
}

/**
 * Loads a model from a GGUF file, a llama2.c checkpoint, a Hugging Face model folder, or a hub id
 * (downloaded into the HF cache on first use).
 */
export async function loadModel(source: string, options: LoadOptions = {}): Promise<LanguageModel> {
  if (existsSync(source) && statSync(source).isFile()) {
    if ((await magic(source)) === 'GGUF') return loadGguf(source, options);
    if (source.endsWith('.safetensors') || source.endsWith('.json')) {
      throw new GlassError('BAD_INPUT', `${source}: pass the model folder, not one of its files`);
    }
    return loadLlama2c(source, options);
  }
  return loadFolder(await resolveModel(source, options), options);
}
