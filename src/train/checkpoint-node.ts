// Training (Node) — what a run leaves on disk. The output folder is an ordinary Hugging Face model folder
// (config.json, model.safetensors, the tokenizer) that `glasslm generate --model <folder>` loads unchanged,
// plus what resuming needs: optimizer.safetensors (AdamW's moments), trainer_state.json (step, options,
// data), metrics.jsonl (one line per step), loss.svg, and the tokenized corpus (tokens.bin + tokens.json).
// Every file is written aside and renamed into place, so an interrupted write never leaves half a file.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { appendFile, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ggufNumberArray, ggufString, ggufStringArray } from '../formats/gguf.js';
import { openGgufFile } from '../formats/gguf-node.js';
import type { ModelConfig } from '../formats/hf-config.js';
import { openSafetensorsFolder } from '../formats/safetensors-node.js';
import { writeSafetensors } from '../formats/safetensors.js';
import type { Decoder } from '../models/decoder.js';
import type { LanguageModel } from '../models/model.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';
import { encodeCorpus, type TokenIds } from './data.js';
import { hfCheckpoint } from './export.js';
import type { AdamW } from './optim.js';
import { lossSvg, type LossPoint } from './plot.js';
import { readLlama2cVocab, SP_TYPE, writeSentencePieceModel } from './tokenizer-export.js';
import type { TrainOptions } from './trainer.js';

export const FILES = {
  config: 'config.json',
  weights: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  state: 'trainer_state.json',
  metrics: 'metrics.jsonl',
  plot: 'loss.svg',
  ids: 'tokens.bin',
  idsMeta: 'tokens.json',
} as const;

/** Files of a tokenizer, by the name they get in the output folder. */
export type TokenizerFiles = Map<string, Uint8Array | string>;

export interface TrainerState {
  version: 1;
  kind: 'train' | 'finetune';
  /** Optimizer steps taken. */
  step: number;
  options: TrainOptions;
  /** The model fine-tuned (finetune), for the record. */
  source?: string;
  data: { path: string; sha256: string; tokens: number; trainTokens: number; valTokens: number };
  elapsedSeconds: number;
  tokensSeen: number;
  lastTrainLoss?: number;
  lastValLoss?: number;
}

/** One line of metrics.jsonl. */
export interface MetricRecord {
  step: number;
  train_loss: number;
  val_loss?: number;
  lr: number;
  grad_norm: number;
  tokens_per_s: number;
  elapsed_s: number;
}

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GlassError('BAD_INPUT', `${path}: cannot write (${code ?? String(e)})`, { cause: e });
  }
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes config.json, model.safetensors and the tokenizer files: a folder `loadModel` reads as it is. */
export async function saveModelFolder(
  dir: string,
  config: ModelConfig,
  decoder: Decoder,
  tokenizerFiles: TokenizerFiles,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { tensors, configJson } = hfCheckpoint(config, decoder);
  await writeFileAtomic(join(dir, FILES.weights), writeSafetensors(tensors, { format: 'pt' }));
  await writeFileAtomic(join(dir, FILES.config), JSON.stringify(configJson, null, 2) + '\n');
  for (const [name, data] of tokenizerFiles) await writeFileAtomic(join(dir, name), data);
}

/** AdamW's moments as safetensors (m.<param>, v.<param>), with the step in the metadata. */
export async function saveOptimizer(dir: string, opt: AdamW): Promise<void> {
  const tensors = opt.params.flatMap((p) => [
    { name: `m.${p.name}`, dtype: 'F32' as const, shape: [...p.shape], data: opt.m.get(p.name)! },
    { name: `v.${p.name}`, dtype: 'F32' as const, shape: [...p.shape], data: opt.v.get(p.name)! },
  ]);
  await writeFileAtomic(join(dir, FILES.optimizer), writeSafetensors(tensors, { step: String(opt.step) }));
}

export async function loadOptimizer(dir: string, opt: AdamW): Promise<void> {
  const path = join(dir, FILES.optimizer);
  if (!existsSync(path))
    throw new GlassError('NOT_FOUND', `${path}: missing; cannot resume without the optimizer state`);
  const src = await openSafetensorsFolder(path);
  try {
    for (const p of opt.params) {
      for (const [k, map] of [
        ['m', opt.m],
        ['v', opt.v],
      ] as const) {
        const name = `${k}.${p.name}`;
        if (!src.has(name))
          throw new GlassError('BAD_FILE', `${path}: no tensor "${name}" (was the model changed?)`);
        const data = await src.read(name);
        if (data.length !== p.data.length) {
          throw new GlassError(
            'BAD_FILE',
            `${path}: "${name}" has ${data.length} values, the model ${p.data.length}`,
          );
        }
        map.get(p.name)!.set(data);
      }
    }
    opt.step = Number(src.metadata.step ?? 0);
  } finally {
    await src.close();
  }
}

export async function readTrainerState(dir: string): Promise<TrainerState | undefined> {
  const path = join(dir, FILES.state);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as TrainerState;
  } catch (e) {
    throw new GlassError('BAD_FILE', `${path}: not valid JSON (${(e as Error).message})`);
  }
}

export async function appendMetric(dir: string, r: MetricRecord): Promise<void> {
  await appendFile(join(dir, FILES.metrics), JSON.stringify(r) + '\n');
}

/** metrics.jsonl's records, those after `upToStep` dropped (steps a crash lost are redone on resume). */
export async function readMetrics(dir: string, upToStep = Infinity): Promise<MetricRecord[]> {
  const path = join(dir, FILES.metrics);
  if (!existsSync(path)) return [];
  const out: MetricRecord[] = [];
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRecord;
      if (r.step <= upToStep) out.push(r);
    } catch {
      // A line cut short by a crash.
    }
  }
  return out;
}

export async function writeMetrics(dir: string, records: MetricRecord[]): Promise<void> {
  await writeFileAtomic(join(dir, FILES.metrics), records.map((r) => JSON.stringify(r) + '\n').join(''));
}

export async function writeLossPlot(dir: string, records: MetricRecord[], title: string): Promise<void> {
  const points: LossPoint[] = records.map((r) => ({ step: r.step, train: r.train_loss, val: r.val_loss }));
  await writeFileAtomic(join(dir, FILES.plot), lossSvg(points, title));
}

export interface Checkpoint {
  config: ModelConfig;
  decoder: Decoder;
  tokenizerFiles: TokenizerFiles;
  optimizer: AdamW;
  state: TrainerState;
  metrics: MetricRecord[];
  title: string;
}

/** The whole checkpoint: model folder, optimizer, trainer state (last: its step says the rest is complete), plot. */
export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  await saveModelFolder(dir, c.config, c.decoder, c.tokenizerFiles);
  await saveOptimizer(dir, c.optimizer);
  await writeMetrics(dir, c.metrics);
  await writeLossPlot(dir, c.metrics, c.title);
  await writeFileAtomic(join(dir, FILES.state), JSON.stringify(c.state, null, 2) + '\n');
}

// ---------------------------------------------------------------------------------------------------
// The tokenized corpus, cached next to the model.

interface IdsMeta {
  version: 1;
  source: string;
  sha256: string;
  tokenizer: string;
  addBos: boolean;
  dtype: 'uint16' | 'uint32';
  count: number;
}

/**
 * The corpus as ids: read from tokens.bin when tokens.json says it was made from the same text with the same
 * tokenizer, else encoded (once) and saved there.
 */
export async function loadOrEncodeCorpus(
  dir: string,
  dataPath: string,
  text: string,
  tokenizer: Tokenizer,
  tokenizerKey: string,
  addBos: boolean,
): Promise<{ ids: TokenIds; sha256: string; cached: boolean }> {
  const textHash = sha256(text);
  const metaPath = join(dir, FILES.idsMeta);
  const binPath = join(dir, FILES.ids);
  if (existsSync(metaPath) && existsSync(binPath)) {
    try {
      const meta = JSON.parse(await readFile(metaPath, 'utf8')) as IdsMeta;
      if (meta.sha256 === textHash && meta.tokenizer === tokenizerKey && meta.addBos === addBos) {
        const bytes = await readFile(binPath);
        const width = meta.dtype === 'uint16' ? 2 : 4;
        if (bytes.length === meta.count * width) {
          const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
          const ids = width === 2 ? new Uint16Array(buf) : new Uint32Array(buf);
          return { ids, sha256: textHash, cached: true };
        }
      }
    } catch {
      // A bad cache is rebuilt.
    }
  }
  const ids = encodeCorpus(tokenizer, text, { addBos });
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(binPath, new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
  const meta: IdsMeta = {
    version: 1,
    source: dataPath,
    sha256: textHash,
    tokenizer: tokenizerKey,
    addBos,
    dtype: ids instanceof Uint16Array ? 'uint16' : 'uint32',
    count: ids.length,
  };
  await writeFileAtomic(metaPath, JSON.stringify(meta, null, 2) + '\n');
  return { ids, sha256: textHash, cached: false };
}

/** A stable key for a set of tokenizer files (for the ids cache). */
export function tokenizerKey(files: TokenizerFiles): string {
  const h = createHash('sha256');
  for (const [name, data] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) h.update(name).update(data);
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------------
// The tokenizer a fine-tuned model is saved with.

/** Tokenizer-related files of an HF folder, copied verbatim. */
const HF_TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer.model',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'encoder.json',
  'vocab.bpe',
  'added_tokens.json',
  'generation_config.json',
];

const LLAMA_TOKENIZER_CONFIG = {
  tokenizer_class: 'LlamaTokenizer',
  add_bos_token: true,
  add_eos_token: false,
  bos_token: '<s>',
  eos_token: '</s>',
  unk_token: '<unk>',
  legacy: true,
  clean_up_tokenization_spaces: false,
};

async function isGguf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b.toString('latin1') === 'GGUF';
  } finally {
    await fh.close();
  }
}

/** A SentencePiece tokenizer.model (+ tokenizer_config.json) from pieces and scores. */
function sentencePieceFiles(bytes: Uint8Array): TokenizerFiles {
  return new Map<string, Uint8Array | string>([
    ['tokenizer.model', bytes],
    ['tokenizer_config.json', JSON.stringify(LLAMA_TOKENIZER_CONFIG, null, 2) + '\n'],
  ]);
}

/**
 * The tokenizer files to save a model loaded from `model.source` with: an HF folder's own files, copied;
 * for a llama2.c checkpoint its tokenizer.bin (--tokenizer, or found beside it as loadModel finds it)
 * converted to a SentencePiece tokenizer.model (or a tokenizer.model / tokenizer.json copied); for a GGUF
 * file a tokenizer.model built from its tokenizer.ggml.* metadata.
 */
export async function tokenizerFilesFor(
  model: LanguageModel,
  tokenizerPath?: string,
): Promise<TokenizerFiles> {
  const src = model.source;
  if (!tokenizerPath && existsSync(src) && statSync(src).isDirectory()) {
    const files: TokenizerFiles = new Map();
    for (const f of HF_TOKENIZER_FILES) {
      const p = join(src, f);
      if (existsSync(p)) files.set(f, await readFile(p));
    }
    // llama2.c-style vocabularies in a folder (tokenizer.bin / tokNNN.bin) become tokenizer.model.
    if (
      !files.has('tokenizer.json') &&
      !files.has('tokenizer.model') &&
      !files.has('vocab.json') &&
      !files.has('encoder.json')
    ) {
      const bin = readdirSync(src).find((f) => f === 'tokenizer.bin' || /^tok\d+\.bin$/.test(f));
      if (bin) return fromTokenizerFile(join(src, bin));
      throw new GlassError('NOT_FOUND', `${src}: no tokenizer files to save with the model`);
    }
    return files;
  }
  if (tokenizerPath) return fromTokenizerFile(tokenizerPath);
  if (await isGguf(src)) {
    const file = await openGgufFile(src);
    try {
      const kind = ggufString(file, 'tokenizer.ggml.model');
      if (kind !== 'llama') {
        throw new GlassError(
          'UNSUPPORTED',
          `${src}: saving a "${kind}" GGUF tokenizer as an HF tokenizer is not supported yet; pass --tokenizer <tokenizer.json>`,
        );
      }
      const pieces = ggufStringArray(file, 'tokenizer.ggml.tokens');
      const scores = file.metadata.has('tokenizer.ggml.scores')
        ? Array.from(ggufNumberArray(file, 'tokenizer.ggml.scores'), Number)
        : pieces.map(() => 0);
      const types = file.metadata.has('tokenizer.ggml.token_type')
        ? Array.from(ggufNumberArray(file, 'tokenizer.ggml.token_type'), Number)
        : pieces.map(() => SP_TYPE.NORMAL);
      const sp = model.tokenizer.specialTokens;
      return sentencePieceFiles(
        writeSentencePieceModel({
          pieces,
          scores,
          types,
          unkId: sp.unk ?? 0,
          bosId: sp.bos ?? 1,
          eosId: sp.eos ?? 2,
          padId: sp.pad ?? -1,
          addDummyPrefix: file.metadata.get('tokenizer.ggml.add_space_prefix') !== false,
        }),
      );
    } finally {
      await file.close();
    }
  }
  // A llama2.c checkpoint: its tokenizer sits beside it, as loadModel looks for it.
  const dir = dirname(src);
  for (const c of [
    `tok${model.decoder.vocabSize}.bin`,
    'tokenizer.bin',
    'tokenizer.model',
    'tokenizer.json',
  ]) {
    if (existsSync(join(dir, c))) return fromTokenizerFile(join(dir, c));
  }
  throw new GlassError('NOT_FOUND', `${src}: no tokenizer found beside it; pass --tokenizer <file>`);
}

async function fromTokenizerFile(path: string): Promise<TokenizerFiles> {
  const bytes = new Uint8Array(await readFile(path));
  const name = basename(path).toLowerCase();
  if (name.endsWith('.json')) return new Map([['tokenizer.json', bytes]]);
  if (name.endsWith('.model')) return sentencePieceFiles(bytes);
  return sentencePieceFiles(writeSentencePieceModel(readLlama2cVocab(bytes, path)));
}
