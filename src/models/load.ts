// Loading a model from a folder or a hub id (Node): resolve → config.json → weights → tokenizer → blocks.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseHfConfig, type ModelConfig } from '../formats/hf-config.js';
import { resolveModel } from '../formats/hub.js';
import type { WeightSource } from '../formats/safetensors.js';
import { openSafetensorsFolder } from '../formats/safetensors-node.js';
import { loadTokenizerFromFolder } from '../tokenizers/load-node.js';
import { GlassError } from '../util/errors.js';
import type { Decoder } from './decoder.js';
import { buildGpt2 } from './gpt2.js';
import { buildLlama } from './llama.js';
import { LanguageModel } from './model.js';

export interface LoadOptions {
  revision?: string;
  /** A tokenizer file for checkpoints that carry none (llama2.c .bin). */
  tokenizer?: string;
  onProgress?: (p: { file: string; received: number; total: number }) => void;
}

/** Builds the network for a parsed config: one line per supported family. */
export async function buildDecoder(config: ModelConfig, weights: WeightSource): Promise<Decoder> {
  switch (config.modelType) {
    case 'gpt2':
      return buildGpt2(config, weights);
    case 'llama':
      // HF checkpoints permute q/k rows for the half-split rotary convention.
      return buildLlama({ ...config, ropeStyle: 'half' }, weights, 'config.json');
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

/** Loads a Hugging Face model folder, or a hub id (downloaded into the HF cache on first use). */
export async function loadModel(source: string, options: LoadOptions = {}): Promise<LanguageModel> {
  const dir = await resolveModel(source, options);
  const configPath = join(dir, 'config.json');
  const config = parseHfConfig(await readJson(configPath), configPath);
  const tokenizer = await loadTokenizerFromFolder(dir);
  const weights = await openSafetensorsFolder(dir);
  try {
    const decoder = await buildDecoder(config, weights);
    if (tokenizer.vocabSize > decoder.vocabSize) {
      throw new GlassError(
        'BAD_FILE',
        `${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${decoder.vocabSize}`,
      );
    }
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
