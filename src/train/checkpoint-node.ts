// Training (Node) — what a run leaves on disk. The output folder is an ordinary Hugging Face model folder
// (config.json, model.safetensors, the tokenizer) that `glasslm generate --model <folder>` loads unchanged,
// plus metrics.jsonl (one line per step), loss.svg, the tokenized corpus (tokens.bin + tokens.json), and the
// checkpoint that resuming needs.
//
// The checkpoint is one atomic unit: a folder checkpoint-<step>/ (the model folder's files and
// optimizer.safetensors, AdamW's moments) written complete under a temporary name, fsynced and renamed into
// place; then trainer_state.json (step, options, data, and the sha256 of every file of that folder) is
// switched to it by one rename; only then is the previous folder deleted and the top-level model files
// replaced (hard links to the new folder's). At every instant trainer_state.json names a complete,
// self-consistent checkpoint; a kill at any point loses at most the steps since it, and a flipped bit in a
// checkpoint file is named as corruption on resume. Leftovers of a killed run (*.tmp-<pid>, a
// checkpoint-<step>/ the state never switched to) are removed by the next run.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { appendFile, copyFile, link, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ggufNumberArray, ggufString, ggufStringArray } from '../formats/gguf.js';
import { openGgufFile } from '../formats/gguf-node.js';
import type { ModelConfig } from '../formats/hf-config.js';
import { openSafetensorsFolder } from '../formats/safetensors-node.js';
import { writeSafetensors } from '../formats/safetensors.js';
import type { Decoder } from '../models/decoder.js';
import type { Encoder } from '../models/encoder.js';
import type { LanguageModel } from '../models/model.js';
import type { Seq2Seq } from '../models/seq2seq.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { GlassError } from '../util/errors.js';
import { cannotWrite, syncDir, writeDurable, writeFileAtomic } from '../util/atomic-node.js';
import { processAlive } from '../util/lock.js';
import { encodeCorpus, type TokenIds } from './data.js';
import { bertTensors, hfCheckpoint, marianTensors } from './export.js';
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

/**
 * The files of a model folder (config.json, the weights, the tokenizer, a sentence-transformers pipeline),
 * by their path inside it ('/'-separated; a module's files sit in its own folder, as 1_Pooling/config.json).
 */
export type ModelFiles = Map<string, Uint8Array | string>;

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
  /**
   * The checkpoint folder (inside the output folder) and the sha256 of each of its files. Absent from
   * checkpoints written before checkpoint folders existed: their files sit in the output folder itself.
   */
  checkpoint?: { dir: string; files: Record<string, string> };
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

const killCounts = new Map<string, number>();

/**
 * Test-only seam: with GLASSLM_TEST_KILL_AT=<point>[@<n>] the process kills itself (SIGKILL, as kill -9 or a
 * power cut would) the n-th time (default the first) it passes `point` while writing a checkpoint.
 */
export function killPoint(point: string): void {
  const spec = process.env.GLASSLM_TEST_KILL_AT;
  if (!spec) return;
  const [name, nth = '1'] = spec.split('@');
  if (name !== point) return;
  const n = (killCounts.get(point) ?? 0) + 1;
  killCounts.set(point, n);
  if (n === Number(nth)) process.kill(process.pid, 'SIGKILL');
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** config.json, model.safetensors and the tokenizer files: a folder `loadModel` reads as it is. */
export function modelFolderFiles(
  config: ModelConfig,
  decoder: Decoder,
  tokenizerFiles: TokenizerFiles,
): ModelFiles {
  const { tensors, configJson } = hfCheckpoint(config, decoder);
  return new Map<string, Uint8Array | string>([
    [FILES.weights, writeSafetensors(tensors, { format: 'pt' })],
    [FILES.config, JSON.stringify(configJson, null, 2) + '\n'],
    ...tokenizerFiles,
  ]);
}

/**
 * A sentence-transformers folder of an encoder: config.json (`configJson`, the one it was loaded with),
 * model.safetensors in BERT names, and `pipelineFiles` (tokenizer, modules.json, 1_Pooling/config.json...:
 * see sentenceTransformersFiles) — a folder `loadEmbedder` (glasslm embed) reads as it is.
 */
export function encoderFolderFiles(
  configJson: Readonly<Record<string, unknown>>,
  encoder: Encoder,
  pipelineFiles: ModelFiles,
): ModelFiles {
  return new Map<string, Uint8Array | string>([
    [FILES.weights, writeSafetensors(bertTensors(encoder), { format: 'pt' })],
    [FILES.config, JSON.stringify(configJson, null, 2) + '\n'],
    ...pipelineFiles,
  ]);
}

/**
 * An HF Marian folder of an encoder-decoder: config.json (`configJson`), model.safetensors in Marian names
 * and `otherFiles` (tokenizer.json, generation_config.json) — a folder `loadModel` reads as it is.
 */
export function marianFolderFiles(
  configJson: Readonly<Record<string, unknown>>,
  model: Seq2Seq,
  otherFiles: ModelFiles,
): ModelFiles {
  return new Map<string, Uint8Array | string>([
    [FILES.weights, writeSafetensors(marianTensors(model), { format: 'pt' })],
    [FILES.config, JSON.stringify(configJson, null, 2) + '\n'],
    ...otherFiles,
  ]);
}

/** Writes a model folder's files into `dir` (each atomically; module folders created). */
export async function writeModelFiles(dir: string, files: ModelFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, data] of files) {
    if (name.includes('/')) await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFileAtomic(join(dir, name), data);
  }
}

/** Writes config.json, model.safetensors and the tokenizer files: a folder `loadModel` reads as it is. */
export async function saveModelFolder(
  dir: string,
  config: ModelConfig,
  decoder: Decoder,
  tokenizerFiles: TokenizerFiles,
): Promise<void> {
  await writeModelFiles(dir, modelFolderFiles(config, decoder, tokenizerFiles));
}

/** AdamW's moments as safetensors (m.<param>, v.<param>), with the step in the metadata. */
function optimizerBytes(opt: AdamW): Uint8Array {
  const tensors = opt.params.flatMap((p) => [
    { name: `m.${p.name}`, dtype: 'F32' as const, shape: [...p.shape], data: opt.m.get(p.name)! },
    { name: `v.${p.name}`, dtype: 'F32' as const, shape: [...p.shape], data: opt.v.get(p.name)! },
  ]);
  return writeSafetensors(tensors, { step: String(opt.step) });
}

/** Reads AdamW's moments from the optimizer.safetensors in `dir` (a checkpoint folder). */
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

const CHECKPOINT_DIR = /^checkpoint-\d+(-\d+)?$/;

/** The names a glasslm run writes in its output folder (and their temporary names). */
export function isOutputEntry(name: string): boolean {
  const base = name.replace(/\.tmp-\d+$/, '');
  return (
    (Object.values(FILES) as string[]).includes(base) ||
    HF_TOKENIZER_FILES.includes(base) ||
    ST_FILES.includes(base) ||
    ST_MODULE_DIR.test(base) ||
    CHECKPOINT_DIR.test(base)
  );
}

function isNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

const OPTION_NUMBERS = [
  'batch',
  'seqLen',
  'steps',
  'lr',
  'warmupSteps',
  'weightDecay',
  'gradClip',
  'seed',
  'evalBatches',
] as const;

/** Why `s` is not a trainer state this version can resume, or undefined when it is. */
function stateProblem(s: Partial<TrainerState> | null): string | undefined {
  if (!s || typeof s !== 'object' || Array.isArray(s)) return 'not a JSON object';
  if (s.kind !== 'train' && s.kind !== 'finetune') return 'no "kind" (train or finetune)';
  if (!Number.isInteger(s.step) || s.step! < 0) return 'no "step"';
  if (!s.options || typeof s.options !== 'object') return 'no "options"';
  for (const k of OPTION_NUMBERS) if (!isNumber(s.options[k])) return `no "options.${k}"`;
  if (!s.data || typeof s.data.path !== 'string' || typeof s.data.sha256 !== 'string')
    return 'no "data" (path, sha256)';
  if (!isNumber(s.elapsedSeconds) || !isNumber(s.tokensSeen)) return 'no "elapsedSeconds"/"tokensSeen"';
  const c = s.checkpoint;
  if (c !== undefined) {
    if (!c || typeof c.dir !== 'string' || !CHECKPOINT_DIR.test(c.dir)) return 'a bad "checkpoint.dir"';
    if (!c.files || typeof c.files !== 'object') return 'no "checkpoint.files"';
    for (const [name, hash] of Object.entries(c.files)) {
      if (!isModelFilePath(name) || !/^[0-9a-f]{64}$/.test(String(hash)))
        return `a bad "checkpoint.files" entry ${JSON.stringify(name)}`;
    }
  }
  return undefined;
}

/** trainer_state.json of `dir`, checked; undefined when there is none. */
export async function readTrainerState(dir: string): Promise<TrainerState | undefined> {
  const path = join(dir, FILES.state);
  if (!existsSync(path)) return undefined;
  let s: Partial<TrainerState> | null;
  try {
    s = JSON.parse(await readFile(path, 'utf8')) as Partial<TrainerState> | null;
  } catch (e) {
    throw new GlassError('BAD_FILE', `${path}: not valid JSON (${(e as Error).message})`);
  }
  const problem = stateProblem(s);
  if (problem)
    throw new GlassError(
      'BAD_FILE',
      `${path}: not a glasslm trainer state (${problem}); cannot resume from it`,
    );
  return s as TrainerState;
}

/** The folder holding the files of the checkpoint `state` describes. */
export function checkpointDir(out: string, state: TrainerState): string {
  return state.checkpoint ? join(out, state.checkpoint.dir) : out;
}

/**
 * The checkpoint in `out`, every file of it checked against the sha256 trainer_state.json recorded: its
 * state and the folder to load the model and optimizer from. Undefined when `out` holds no checkpoint.
 */
export async function openCheckpoint(out: string): Promise<{ state: TrainerState; dir: string } | undefined> {
  const state = await readTrainerState(out);
  if (!state) return undefined;
  const dir = checkpointDir(out, state);
  for (const [name, expected] of Object.entries(state.checkpoint?.files ?? {})) {
    const path = join(dir, name);
    let actual: string;
    try {
      actual = await fileSha256(path);
    } catch (e) {
      throw new GlassError(
        'BAD_FILE',
        `checkpoint file ${path} is missing or unreadable (${(e as NodeJS.ErrnoException).code ?? e}); cannot resume`,
      );
    }
    if (actual !== expected) {
      throw new GlassError(
        'CHECKSUM',
        `checkpoint file ${path} is corrupt: checksum mismatch (sha256 ${actual.slice(0, 12)}…, recorded ${expected.slice(0, 12)}…); cannot resume`,
      );
    }
  }
  return { state, dir };
}

/**
 * Removes what killed runs left in the output folder `out`: `*.tmp-<pid>` files and folders of processes no
 * longer alive, and checkpoint folders other than the one `state` names (one never switched to, or an old
 * one not yet deleted).
 */
export async function removeLeftovers(out: string, state: TrainerState | undefined): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(out);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const tmp = /\.tmp-(\d+)$/.exec(name);
    const stale = tmp
      ? Number(tmp[1]) === process.pid || !processAlive(Number(tmp[1]))
      : CHECKPOINT_DIR.test(name) && name !== state?.checkpoint?.dir;
    if (stale && isOutputEntry(name)) {
      await rm(join(out, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** `from`'s content at `to`, atomically: a hard link (no copy) renamed into place, or a copy where links fail. */
async function linkAtomic(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp-${process.pid}`;
  try {
    await rm(tmp, { force: true });
    try {
      await link(from, tmp);
    } catch {
      await copyFile(from, tmp);
    }
    await rename(tmp, to);
  } catch (e) {
    await rm(tmp, { force: true });
    throw cannotWrite(to, e);
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
  /** The model folder's files, as they are at this step. */
  model: ModelFiles;
  optimizer: AdamW;
  state: TrainerState;
  metrics: MetricRecord[];
  title: string;
}

/** The state the checkpoint in `out` is at now, or undefined (none, or unreadable: it is replaced). */
async function currentState(out: string): Promise<TrainerState | undefined> {
  try {
    return await readTrainerState(out);
  } catch {
    return undefined;
  }
}

/**
 * The whole checkpoint, as one atomic unit (see the top of this file): checkpoint-<step>/ written complete
 * beside the previous one, trainer_state.json switched to it by one rename, then the previous one deleted
 * and the top-level model files (for `generate`) replaced by the new ones.
 */
export async function saveCheckpoint(out: string, c: Checkpoint): Promise<TrainerState> {
  const previous = await currentState(out);
  let name = `checkpoint-${c.state.step}`;
  if (name === previous?.checkpoint?.dir) name += `-${process.pid}`;
  const dir = join(out, name);
  const tmp = `${dir}.tmp-${process.pid}`;
  const model = c.model;
  const files: Record<string, string> = {};
  try {
    await rm(dir, { recursive: true, force: true }); // one the state never switched to
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    killPoint('mkdir');
    for (const [file, data] of [...model, [FILES.optimizer, optimizerBytes(c.optimizer)] as const]) {
      if (file.includes('/')) await mkdir(dirname(join(tmp, file)), { recursive: true });
      await writeDurable(join(tmp, file), data);
      files[file] = sha256(data);
      killPoint('file');
    }
    await syncDir(tmp);
    killPoint('complete');
    await rename(tmp, dir);
    await syncDir(out);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e instanceof GlassError ? e : cannotWrite(dir, e);
  }
  killPoint('renamed');
  await writeMetrics(out, c.metrics);
  await writeLossPlot(out, c.metrics, c.title);
  killPoint('metrics');
  const state: TrainerState = { ...c.state, checkpoint: { dir: name, files } };
  await writeFileAtomic(join(out, FILES.state), JSON.stringify(state, null, 2) + '\n');
  await syncDir(out);
  killPoint('switched');
  // The new checkpoint is the one: the previous one goes, file by file.
  const old = previous?.checkpoint ? join(out, previous.checkpoint.dir) : undefined;
  if (old && existsSync(old)) {
    for (const f of await readdir(old)) {
      await rm(join(old, f), { recursive: true, force: true });
      killPoint('delete');
    }
    await rm(old, { recursive: true, force: true });
  } else if (previous) {
    await rm(join(out, FILES.optimizer), { force: true }); // a checkpoint from before checkpoint folders
  }
  for (const file of model.keys()) {
    if (file.includes('/')) await mkdir(dirname(join(out, file)), { recursive: true });
    await linkAtomic(join(dir, file), join(out, file));
    killPoint('top');
  }
  return state;
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

export interface Corpus {
  ids: TokenIds;
  sha256: string;
  /** True when the ids were read from the cache rather than encoded. */
  cached: boolean;
  meta: IdsMeta;
}

/**
 * The corpus as ids: read from tokens.bin in `dir` when tokens.json says it was made from the same text with
 * the same tokenizer, else encoded. Writes nothing (`saveCorpusCache` does, once the output folder is made).
 */
export async function loadOrEncodeCorpus(
  dir: string,
  dataPath: string,
  text: string,
  tokenizer: Tokenizer,
  tokenizerKey: string,
  addBos: boolean,
): Promise<Corpus> {
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
          return { ids, sha256: textHash, cached: true, meta };
        }
      }
    } catch {
      // A bad cache is rebuilt.
    }
  }
  const ids = encodeCorpus(tokenizer, text, { addBos });
  const meta: IdsMeta = {
    version: 1,
    source: dataPath,
    sha256: textHash,
    tokenizer: tokenizerKey,
    addBos,
    dtype: ids instanceof Uint16Array ? 'uint16' : 'uint32',
    count: ids.length,
  };
  return { ids, sha256: textHash, cached: false, meta };
}

/** Saves an encoded corpus to tokens.bin + tokens.json in `dir` (nothing to do when it came from there). */
export async function saveCorpusCache(dir: string, c: Corpus): Promise<void> {
  if (c.cached) return;
  await writeFileAtomic(
    join(dir, FILES.ids),
    new Uint8Array(c.ids.buffer, c.ids.byteOffset, c.ids.byteLength),
  );
  await writeFileAtomic(join(dir, FILES.idsMeta), JSON.stringify(c.meta, null, 2) + '\n');
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

/** A sentence-transformers folder's own files besides the tokenizer's (the pipeline and its settings). */
const ST_FILES = [
  'vocab.txt',
  'modules.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
];

/** A sentence-transformers module folder (1_Pooling, 2_Normalize...). */
const ST_MODULE_DIR = /^\d+_[A-Za-z]+$/;

/** A relative path inside a model folder: plain names, no hidden or parent parts. */
function isModelFilePath(name: string): boolean {
  const parts = name.split('/');
  return parts.length <= 2 && parts.every((p) => p !== '' && !p.startsWith('.') && p === basename(p));
}

/**
 * The files that make `dir` (a sentence-transformers or BERT folder) a pipeline besides its config and
 * weights, copied verbatim: the tokenizer's, modules.json, sentence_bert_config.json and the files of each
 * module folder modules.json names (1_Pooling/config.json...).
 */
export async function sentenceTransformersFiles(dir: string): Promise<ModelFiles> {
  const files: ModelFiles = new Map();
  for (const f of [...HF_TOKENIZER_FILES, ...ST_FILES]) {
    const p = join(dir, f);
    if (existsSync(p)) files.set(f, await readFile(p));
  }
  const modules = files.get('modules.json');
  if (modules !== undefined) {
    let list: Array<{ path?: unknown }>;
    try {
      list = JSON.parse(typeof modules === 'string' ? modules : new TextDecoder().decode(modules)) as Array<{
        path?: unknown;
      }>;
    } catch (e) {
      throw new GlassError(
        'BAD_FILE',
        `${join(dir, 'modules.json')}: not valid JSON (${(e as Error).message})`,
      );
    }
    for (const m of Array.isArray(list) ? list : []) {
      const sub = typeof m.path === 'string' ? m.path : '';
      if (!ST_MODULE_DIR.test(sub) || !existsSync(join(dir, sub))) continue;
      for (const f of await readdir(join(dir, sub), { withFileTypes: true }))
        if (f.isFile() && !f.name.startsWith('.'))
          files.set(`${sub}/${f.name}`, await readFile(join(dir, sub, f.name)));
    }
  }
  if (!files.has('tokenizer.json') && !files.has('vocab.txt'))
    throw new GlassError('NOT_FOUND', `${dir}: no tokenizer files to save with the model`);
  return files;
}

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
