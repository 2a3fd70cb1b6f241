// Loading an embedding model (Node). loadEmbeddingModel takes any kind:
//   word2vec:<vectors file>   static word vectors, SIF-weighted with the counts of vocab.txt beside the file
//                             (word2vec.c -save-vocab format; a = 1e-3; no component removed)
//   a folder whose config.json has "kind": "word2vec-sif" or "word2vec-mean" (models/kjv-word2vec):
//                             { kind, vectors, vocab (sif), a (sif, default 1e-3), remove_component (sif,
//                             optional: the unit vector SIF removes), description (a note) }; any other field
//                             is refused, since it might change the maths
//   anything else             loadEmbedder: a sentence-transformers / BERT folder or hub id — config.json
//                             (model_type bert, xlm-roberta or nomic_bert), the weights, the tokenizer, and
//                             the pipeline in modules.json — Pooling (1_Pooling/config.json) and Normalize;
//                             or a GGUF file (llama.cpp's `bert` architecture, formats/gguf-bert.ts).
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ggufAsHfBert, ggufBertConfig, ggufBertPooling } from '../formats/gguf-bert.js';
import { openGgufFile } from '../formats/gguf-node.js';
import { parseHfConfig } from '../formats/hf-config.js';
import { resolveModel } from '../formats/hub.js';
import { openSafetensorsFolder } from '../formats/safetensors-node.js';
import { buildBert } from '../models/bert.js';
import { tokenizerFromGguf } from '../tokenizers/from-gguf.js';
import { loadTokenizerFromFolder } from '../tokenizers/load-node.js';
import { GlassError } from '../util/errors.js';
import { parseVocab } from '../word2vec/formats.js';
import { loadWordVectors } from '../word2vec/load-node.js';
import { SentenceEmbedder } from './embedder.js';
import type { EmbeddingModel } from './model.js';
import type { PoolingMode } from './pooling.js';
import { SIF_A, WordVectorEmbedder } from './word-vectors.js';

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

/** The prefix naming a word-vectors file as an embedding model: word2vec:<file>. */
export const WORD2VEC_PREFIX = 'word2vec:';

const WORD_VECTOR_KINDS = ['word2vec-sif', 'word2vec-mean'];
const WORD_VECTOR_FIELDS = ['kind', 'vectors', 'vocab', 'a', 'remove_component', 'description'];

/** A folder's config.json, when it describes a word-vector model (has "kind": "word2vec-…"). */
async function wordVectorConfig(dir: string): Promise<Record<string, unknown> | undefined> {
  const json = await readJsonIfPresent(join(dir, 'config.json'));
  return typeof json?.kind === 'string' && json.kind.startsWith('word2vec') ? json : undefined;
}

async function readCounts(path: string, vectorsPath: string): Promise<Map<string, number>> {
  if (!existsSync(path)) {
    throw new GlassError(
      'NOT_FOUND',
      `${path}: not found; SIF weights need the corpus counts of ${vectorsPath} ("word count" lines, as ` +
        '`glasslm word2vec train --save-vocab` and word2vec.c -save-vocab write them)',
    );
  }
  return parseVocab(await readFile(path, 'utf8'), path);
}

async function readVectors(path: string) {
  if (!existsSync(path)) throw new GlassError('NOT_FOUND', `${path}: no such vectors file`);
  return loadWordVectors(path);
}

/** A word-vector model from its folder's config.json (see the top of this file). */
async function loadWordVectorFolder(dir: string, json: Record<string, unknown>): Promise<WordVectorEmbedder> {
  const where = join(dir, 'config.json');
  for (const k of Object.keys(json)) {
    if (!WORD_VECTOR_FIELDS.includes(k)) {
      throw new GlassError(
        'UNSUPPORTED',
        `${where}: field "${k}" is not supported (known: ${WORD_VECTOR_FIELDS.join(', ')})`,
      );
    }
  }
  if (!WORD_VECTOR_KINDS.includes(json.kind as string)) {
    throw new GlassError(
      'UNSUPPORTED',
      `${where}: kind "${String(json.kind)}" is not supported (${WORD_VECTOR_KINDS.join(', ')})`,
    );
  }
  const sif = json.kind === 'word2vec-sif';
  const str = (k: string, fallback?: string): string => {
    const v = json[k] ?? fallback;
    if (typeof v !== 'string') throw new GlassError('BAD_FILE', `${where}: "${k}" must be a file name`);
    return join(dir, v);
  };
  if (!sif) {
    for (const k of ['vocab', 'a', 'remove_component']) {
      if (k in json)
        throw new GlassError(
          'UNSUPPORTED',
          `${where}: field "${k}" is SIF's; kind word2vec-mean has no weights`,
        );
    }
  }
  const a = json.a ?? SIF_A;
  if (typeof a !== 'number' || !(a > 0))
    throw new GlassError('BAD_FILE', `${where}: "a" must be a number > 0`);
  const rc = json.remove_component;
  if (rc !== undefined && !(Array.isArray(rc) && rc.every((x) => typeof x === 'number'))) {
    throw new GlassError('BAD_FILE', `${where}: "remove_component" must be an array of numbers`);
  }
  const vectorsPath = str('vectors', 'vectors.bin');
  const vectors = await readVectors(vectorsPath);
  return new WordVectorEmbedder({
    vectors,
    source: dir,
    weighting: sif ? 'sif' : 'mean',
    counts: sif ? await readCounts(str('vocab', 'vocab.txt'), vectorsPath) : undefined,
    a,
    removeComponent: rc as number[] | undefined,
  });
}

/**
 * Any embedding model: word2vec:<vectors file>, a word-vector folder, or a BERT / sentence-transformers
 * folder or hub id (see the top of this file).
 */
export async function loadEmbeddingModel(source: string): Promise<EmbeddingModel> {
  if (source.startsWith(WORD2VEC_PREFIX)) {
    const path = source.slice(WORD2VEC_PREFIX.length);
    if (existsSync(path) && statSync(path).isDirectory()) {
      const json = await wordVectorConfig(path);
      if (!json)
        throw new GlassError(
          'NOT_FOUND',
          `${join(path, 'config.json')}: no word-vector config (kind word2vec-sif)`,
        );
      return loadWordVectorFolder(path, json);
    }
    const vectors = await readVectors(path);
    const counts = await readCounts(join(dirname(path), 'vocab.txt'), path);
    return new WordVectorEmbedder({ vectors, source, weighting: 'sif', counts });
  }
  if (existsSync(source) && statSync(source).isDirectory()) {
    const json = await wordVectorConfig(source);
    if (json) return loadWordVectorFolder(source, json);
  }
  return loadEmbedder(source);
}
