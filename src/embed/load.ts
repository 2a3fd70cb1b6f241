// Loading a sentence-transformers / BERT folder (Node): config.json (model_type bert or xlm-roberta), the
// weights, the tokenizer, and the pipeline in modules.json — Pooling (1_Pooling/config.json) and Normalize.
// Or a GGUF file (llama.cpp's `bert` architecture, formats/gguf-bert.ts).
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ggufAsHfBert, ggufBertConfig, ggufBertPooling } from '../formats/gguf-bert.js';
import { openGgufFile } from '../formats/gguf-node.js';
import { parseHfConfig } from '../formats/hf-config.js';
import { resolveModel } from '../formats/hub.js';
import { openSafetensorsFolder } from '../formats/safetensors-node.js';
import { buildBert } from '../models/bert.js';
import { tokenizerFromGguf } from '../tokenizers/from-gguf.js';
import { loadTokenizerFromFolder } from '../tokenizers/load-node.js';
import { GlassError } from '../util/errors.js';
import { SentenceEmbedder } from './embedder.js';
import type { PoolingMode } from './pooling.js';

async function readJsonIfPresent(path: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new GlassError('BAD_FILE', `${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Pooling and normalisation from modules.json; plain BERT folders get mean pooling, normalised. */
async function readPipeline(
  dir: string,
): Promise<{ pooling: PoolingMode; normalize: boolean; maxTokens?: number }> {
  const modules = (await readJsonIfPresent(join(dir, 'modules.json'))) as unknown as
    Array<{ type?: string; path?: string }> | undefined;
  const st = await readJsonIfPresent(join(dir, 'sentence_bert_config.json'));
  const maxTokens = typeof st?.max_seq_length === 'number' ? st.max_seq_length : undefined;
  if (!modules) return { pooling: 'mean', normalize: true, maxTokens };
  let pooling: PoolingMode = 'mean';
  let normalize = false;
  for (const m of modules) {
    if (m.type?.endsWith('.Pooling')) {
      const cfgPath = join(dir, m.path ?? '1_Pooling', 'config.json');
      const c = (await readJsonIfPresent(cfgPath)) ?? {};
      if (c.pooling_mode_cls_token) pooling = 'cls';
      else if (c.pooling_mode_max_tokens) pooling = 'max';
      else if (c.pooling_mode_mean_sqrt_len_tokens) pooling = 'mean_sqrt_len';
      else if (c.pooling_mode_mean_tokens !== false) pooling = 'mean';
      if (c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken) {
        throw new GlassError(
          'UNSUPPORTED',
          `${cfgPath}: this pooling mode is not supported yet: weightedmean/lasttoken`,
        );
      }
    } else if (m.type?.endsWith('.Normalize')) normalize = true;
    else if (m.type && !m.type.endsWith('.Transformer')) {
      throw new GlassError(
        'UNSUPPORTED',
        `${join(dir, 'modules.json')}: module ${m.type} is not supported yet: ${m.type}`,
      );
    }
  }
  return { pooling, normalize, maxTokens };
}

/**
 * An embedding model from a GGUF file (llama.cpp's `bert` architecture: BERT, and XLM-RoBERTa with its "t5"
 * Unigram vocabulary): the pooling of `bert.pooling_type` (mean when absent), always L2-normalised — a GGUF
 * file does not carry sentence-transformers' Normalize module; llama.cpp's embedding tool normalises by
 * default too.
 */
async function loadGgufEmbedder(path: string): Promise<SentenceEmbedder> {
  const file = await openGgufFile(path);
  try {
    const config = ggufBertConfig(file);
    const pooling = ggufBertPooling(file);
    const tokenizer = tokenizerFromGguf(file);
    const encoder = await buildBert(config, ggufAsHfBert(file));
    return new SentenceEmbedder({
      config,
      tokenizer,
      encoder,
      source: path,
      pooling,
      normalize: true,
      maxTokens: config.contextLength,
    });
  } finally {
    await file.close();
  }
}

/**
 * Loads an embedding model from a folder or hub id (sentence-transformers layout, or a plain BERT /
 * XLM-RoBERTa folder), or a GGUF file.
 */
export async function loadEmbedder(source: string): Promise<SentenceEmbedder> {
  if (/\.gguf$/i.test(source) && existsSync(source) && statSync(source).isFile())
    return loadGgufEmbedder(source);
  const dir = await resolveModel(source);
  const configPath = join(dir, 'config.json');
  const json = await readJsonIfPresent(configPath);
  if (!json)
    throw new GlassError(
      'NOT_FOUND',
      `${configPath}: not found (an embedding model folder needs config.json)`,
    );
  const config = parseHfConfig(json, configPath);
  if (config.modelType !== 'bert') {
    throw new GlassError(
      'BAD_INPUT',
      `${dir}: model_type "${config.modelType}" is a generator, not an embedding model`,
    );
  }
  const tokenizer = await loadTokenizerFromFolder(dir);
  const weights = await openSafetensorsFolder(dir);
  try {
    const encoder = await buildBert(config, weights);
    const p = await readPipeline(dir);
    return new SentenceEmbedder({
      config,
      tokenizer,
      encoder,
      source: dir,
      pooling: p.pooling,
      normalize: p.normalize,
      maxTokens: p.maxTokens ?? config.contextLength,
    });
  } finally {
    await weights.close();
  }
}
