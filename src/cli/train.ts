// `glasslm train`: a GPT-2 from nothing — learn a byte-level BPE vocabulary from the corpus, tokenize it once,
// hold out 10% for validation, and train with AdamW, printing step, losses, tokens/s and ETA. The output is
// a standard Hugging Face GPT-2 folder that `glasslm generate --model <folder>` loads. Parsing and printing
// only: the work is in src/train/.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadModel } from '../models/load-node.js';
import { loadTokenizerFromJson } from '../tokenizers/load.js';
import { bpeTokenizerJson, countWords, seq2seqTokenizerJson, trainBpe } from '../train/bpe-trainer.js';
import {
  FILES,
  checkpointDir,
  isOutputEntry,
  loadOrEncodeCorpus,
  openCheckpoint,
  readTrainerState,
  saveCorpusCache,
  sha256,
  tokenizerKey,
  type Corpus,
  type MetricRecord,
  type ModelFiles,
  type TokenizerFiles,
  type TrainerState,
} from '../train/checkpoint-node.js';
import { checkEnoughTokens, splitTrainVal, type TokenIds } from '../train/data.js';
import { createGpt2, createMarian, marianConfigJson, type MarianShape } from '../train/init.js';
import { parsePairs, splitPairs } from '../train/pairs.js';
import {
  decoderRun,
  runTraining,
  seq2seqRun,
  type IdPair,
  type RunResult,
  type RunSpec,
} from '../train/run-node.js';
import type { TrainOptions } from '../train/trainer.js';
import type { Seq2Seq } from '../models/seq2seq.js';
import { GlassError } from '../util/errors.js';
import { floatOption, intOption, selectKernels, threadsOption } from './common.js';
import { OutputFolder } from './output.js';

export interface LoopCliOptions {
  data?: string;
  out: string;
  steps?: number;
  batch?: number;
  context?: number;
  lr?: number;
  minLr?: number;
  warmup?: number;
  weightDecay?: number;
  gradClip?: number;
  seed?: number;
  evalEvery?: number;
  evalBatches?: number;
  checkpointEvery?: number;
  valFraction?: number;
  resume?: boolean;
  force?: boolean;
  threads?: number;
}

interface TrainCliOptions extends LoopCliOptions {
  arch?: string;
  pairs?: string;
  context: number;
  layers: number;
  heads: number;
  dim: number;
  vocab: number;
}

/** The options every training loop shares (train and finetune), on a command. */
export function addLoopOptions(
  cmd: Command,
  defaults: { steps: number; lr: number; evalEvery: number; checkpointEvery: number },
): Command {
  return cmd
    .option(
      '--steps <n>',
      `optimizer steps in all (default ${defaults.steps}; with --resume, a new total)`,
      intOption('steps', 0),
    )
    .option('--batch <n>', 'windows (seq2seq, embedders: pairs) per step (default 8)', intOption('batch', 1))
    .option('--lr <x>', `peak learning rate (default ${defaults.lr})`, floatOption('lr', 0))
    .option(
      '--min-lr <x>',
      'learning rate at the end of the cosine decay (default lr/10)',
      floatOption('min-lr', 0),
    )
    .option('--warmup <n>', 'linear warmup steps (default min(100, steps/10))', intOption('warmup', 0))
    .option(
      '--weight-decay <x>',
      'AdamW decoupled weight decay on block matrices (default 0.1)',
      floatOption('weight-decay', 0),
    )
    .option(
      '--grad-clip <x>',
      'clip the global gradient norm to this, 0 = off (default 1)',
      floatOption('grad-clip', 0),
    )
    .option(
      '--seed <n>',
      'random seed: the same seed gives the same run, bit for bit (default 1)',
      intOption('seed', 0),
    )
    .option(
      '--eval-every <n>',
      `validation loss every n steps (default ${defaults.evalEvery})`,
      intOption('eval-every', 1),
    )
    .option(
      '--eval-batches <n>',
      'validation batches per evaluation (default 4)',
      intOption('eval-batches', 1),
    )
    .option(
      '--checkpoint-every <n>',
      `save a checkpoint every n steps (default ${defaults.checkpointEvery})`,
      intOption('checkpoint-every', 1),
    )
    .option(
      '--val-fraction <x>',
      'share of the tokens held out for validation (default 0.1)',
      floatOption('val-fraction', 0, 0.9),
    )
    .option(
      '--resume',
      'continue the run checkpointed in --out, with its model and options (--steps may change the total)',
    )
    .option(
      '--force',
      'write into a non-empty --out that is not a glasslm output folder (files named like the outputs are replaced)',
    )
    .addOption(threadsOption(1));
}

/**
 * TrainOptions from the command line, or from a checkpoint when resuming (--steps may extend it; a total the
 * run has already reached is refused, so a resume never silently does nothing).
 */
export function loopOptions(
  o: LoopCliOptions,
  seqLen: number,
  defaults: { steps: number; lr: number },
  resumed?: TrainerState,
): TrainOptions {
  if (resumed) {
    const steps = o.steps ?? resumed.options.steps;
    if (steps <= resumed.step) {
      throw new GlassError(
        'BAD_INPUT',
        `${o.out}: the run is already at step ${resumed.step}` +
          (o.steps === undefined ? ' (its last)' : `, past --steps ${steps}`) +
          `; nothing to do — pass --steps above ${resumed.step} to train further`,
      );
    }
    return { ...resumed.options, steps };
  }
  const steps = o.steps ?? defaults.steps;
  return {
    batch: o.batch ?? 8,
    seqLen,
    steps,
    lr: o.lr ?? defaults.lr,
    minLr: o.minLr,
    warmupSteps: o.warmup ?? Math.min(100, Math.floor(steps / 10)),
    weightDecay: o.weightDecay ?? 0.1,
    gradClip: o.gradClip ?? 1,
    seed: o.seed ?? 1,
    evalBatches: o.evalBatches ?? 4,
  };
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '-';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(sec).padStart(2, '0')}s`
      : `${sec}s`;
}

/**
 * Runs the loop with a progress bar on stderr (a line per evaluation when stderr is not a terminal), and
 * Ctrl-C stopping it cleanly with a checkpoint (a second Ctrl-C quits at once).
 */
export async function runWithProgress(
  spec: Omit<RunSpec, 'signal' | 'onStep' | 'onCheckpoint' | 'onStart'>,
  evalEvery: number,
): Promise<RunResult & { signal?: NodeJS.Signals }> {
  const ac = new AbortController();
  let stopAt = 0;
  let signal: NodeJS.Signals | undefined;
  const onSigint = (name: NodeJS.Signals) => {
    // One Ctrl-C often arrives twice (the terminal signals the whole process group, and an npx/npm
    // wrapper forwards its own copy), so only a second one a moment later quits without a checkpoint.
    if (ac.signal.aborted) {
      if (Date.now() - stopAt > 1000) process.exit(130);
      return;
    }
    stopAt = Date.now();
    signal = name;
    ac.abort();
    process.stderr.write(
      '\nglasslm: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n',
    );
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: 'step {value}/{total} [{bar}] train {train} · val {val} · {tps} tok/s · ETA {eta_s}',
          barsize: 24,
          hideCursor: true,
          stream: process.stderr,
          etaBuffer: 1,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let lastVal = '-';
  // Debiased moving average of the train loss (one step's loss is noisy).
  let ema = 0;
  let emaWeight = 0;
  try {
    const r = await runTraining({
      ...spec,
      signal: ac.signal,
      onStart: (step) => {
        if (step > 0) process.stderr.write(`glasslm: resuming at step ${step}\n`);
        bar?.start(spec.options.steps, step, { train: '-', val: '-', tps: '-', eta_s: '-' });
      },
      onStep: (r: MetricRecord, info) => {
        ema = 0.9 * ema + 0.1 * r.train_loss;
        emaWeight = 0.9 * emaWeight + 0.1;
        const smoothLoss = ema / emaWeight;
        if (r.val_loss !== undefined) lastVal = r.val_loss.toFixed(3);
        const payload = {
          train: smoothLoss.toFixed(3),
          val: lastVal,
          tps: r.tokens_per_s.toFixed(0),
          eta_s: duration(info.etaSeconds),
        };
        if (bar) bar.update(r.step, payload);
        else if (r.step % evalEvery === 0 || r.step === info.totalSteps || r.step === 1) {
          process.stderr.write(
            `step ${r.step}/${info.totalSteps} · train ${payload.train} · val ${payload.val} · ${payload.tps} tok/s · ETA ${payload.eta_s}\n`,
          );
        }
      },
      onCheckpoint: (step) => {
        if (!bar) process.stderr.write(`checkpoint at step ${step} → ${spec.dir}\n`);
      },
    });
    return { ...r, signal: r.stopped ? signal : undefined };
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

/**
 * The summary of a run; a run stopped by a signal says so and exits 130 (SIGINT) or 143 (SIGTERM).
 * `perplexity`: the loss is a next-token cross-entropy (not a contrastive one), so exp(loss) means something.
 */
export function printSummary(
  r: RunResult & { signal?: NodeJS.Signals },
  dir: string,
  { perplexity = true } = {},
): void {
  const last = r.metrics.at(-1);
  const val = r.state.lastValLoss;
  process.stderr.write(
    `${r.stopped ? 'stopped' : 'done'} at step ${r.state.step}` +
      (last ? ` · train loss ${last.train_loss.toFixed(3)}` : '') +
      (val !== undefined
        ? ` · val loss ${val.toFixed(3)}` + (perplexity ? ` (perplexity ${Math.exp(val).toFixed(2)})` : '')
        : '') +
      ` · ${duration(r.state.elapsedSeconds)} training · ${r.params.numParams.toLocaleString('en-US')} parameters\n` +
      `saved ${dir} (${FILES.weights}, ${FILES.config}, tokenizer, ${FILES.metrics}, ${FILES.plot}; ` +
      `the checkpoint in ${r.state.checkpoint?.dir ?? 'it'}/ with ${FILES.optimizer})` +
      (r.stopped ? `; continue with --resume` : '') +
      '\n',
  );
  if (r.signal) {
    process.exitCode = r.signal === 'SIGTERM' ? 143 : 130;
    process.stderr.write(
      `glasslm: interrupted (${r.signal}) at step ${r.state.step}, checkpoint saved; exit code ${process.exitCode}\n`,
    );
  }
}

/**
 * The output folder of a train/finetune run, checked before anything is created: a fresh run needs a new,
 * empty or glasslm-only folder (or --force) and refuses one holding a checkpoint; --resume needs a
 * checkpoint, whose files are checked against their recorded checksums. `inputs` (model, data) may never be
 * written over.
 */
export async function prepareOutput(
  o: LoopCliOptions,
  inputs: Array<string | undefined>,
): Promise<{ folder: OutputFolder; checkpoint?: { state: TrainerState; dir: string } }> {
  const folder = await OutputFolder.check(o.out, {
    force: o.force,
    inputs,
    owns: isOutputEntry,
    marker: FILES.state,
  });
  if (!o.resume) {
    if (existsSync(join(o.out, FILES.state))) {
      const step = await readTrainerState(o.out).then(
        (s) => `step ${s?.step}`,
        (e: Error) => `damaged: ${e.message}`,
      );
      throw new GlassError(
        'BAD_INPUT',
        `${o.out} already holds a training checkpoint (${step}); pass --resume to continue it, or choose another --out`,
      );
    }
    return { folder };
  }
  const checkpoint = await openCheckpoint(o.out);
  if (!checkpoint) throw new GlassError('NOT_FOUND', `${o.out}: no checkpoint to resume (no ${FILES.state})`);
  return { folder, checkpoint };
}

/** The training text; an empty file is refused before anything is written. */
export async function readTrainingText(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new GlassError(
      'NOT_FOUND',
      `${path}: cannot read the training data (${(e as NodeJS.ErrnoException).code ?? e})`,
    );
  }
  if (text.trim() === '') throw new GlassError('BAD_INPUT', `${path} is empty: there is nothing to train on`);
  return text;
}

/** A resumed run's data must be the data it started with (`sha256`: the file's now). */
export function checkSameData(sha256: string, dataPath: string, resumed?: TrainerState): void {
  if (resumed && sha256 !== resumed.data.sha256) {
    throw new GlassError(
      'BAD_INPUT',
      `${dataPath} has changed since the checkpoint was made; resume with the same data`,
    );
  }
}

/**
 * The corpus split into train and validation, checked (one training window at least), resumed runs checked
 * against the data they started with. Writes nothing.
 */
export function splitCorpus(
  corpus: Corpus,
  dataPath: string,
  o: LoopCliOptions,
  seqLen: number,
  resumed?: TrainerState,
): { train: TokenIds; val: TokenIds } {
  checkSameData(corpus.sha256, dataPath, resumed);
  const split = splitTrainVal(corpus.ids, o.valFraction ?? 0.1);
  checkEnoughTokens(split.train, seqLen, `${dataPath} (training part)`);
  return split;
}

/**
 * Creates the output folder, saves the tokenized corpus (text runs) and runs; a fresh run that fails before
 * its first checkpoint removes what it created (nothing is left behind), and every run ends with its summary.
 */
export async function runInFolder(
  folder: OutputFolder,
  corpus: Corpus | undefined,
  spec: Parameters<typeof runWithProgress>[0],
  evalEvery: number,
  summary?: Parameters<typeof printSummary>[2],
): Promise<void> {
  await folder.create();
  let r: Awaited<ReturnType<typeof runWithProgress>>;
  try {
    if (corpus) await saveCorpusCache(spec.dir, corpus);
    r = await runWithProgress(spec, evalEvery);
  } catch (e) {
    if (!spec.resume && !existsSync(join(spec.dir, FILES.state))) await folder.discard();
    throw e;
  }
  printSummary(r, spec.dir, summary);
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description(
      'train a model from scratch (tokenizer included): a GPT-2 on a text file, or an encoder-decoder on ' +
        'source<TAB>target pairs (--arch seq2seq); the result loads with `generate`',
    )
    .option(
      '--arch <arch>',
      "gpt2 (a decoder, on --data text; the default) or seq2seq (a Marian-style encoder-decoder, on --pairs); --resume continues the checkpoint's",
    )
    .option(
      '--data <file>',
      'the training text (UTF-8); with --resume, the one the run started with by default',
    )
    .option(
      '--pairs <file>',
      '--arch seq2seq: one "source<TAB>target" per line (UTF-8); the last --val-fraction held out',
    )
    .requiredOption('--out <folder>', 'where the model, checkpoints, metrics.jsonl and loss.svg go')
    .option(
      '--layers <n>',
      'transformer blocks (seq2seq: in the encoder, and as many in the decoder)',
      intOption('layers', 1),
      4,
    )
    .option('--heads <n>', 'attention heads per block', intOption('heads', 1), 4)
    .option('--dim <n>', 'width of the residual stream', intOption('dim', 1), 128)
    .option(
      '--context <n>',
      'context length (tokens per window; seq2seq: the longest source, and target + end-of-text)',
      intOption('context', 2),
      256,
    )
    .option(
      '--vocab <n>',
      'vocabulary size: 256 bytes + merges + <|endoftext|> (256: bytes only; seq2seq: + <pad>, at least 258)',
      intOption('vocab', 256),
      2048,
    );
  addLoopOptions(cmd, { steps: 2000, lr: 3e-4, evalEvery: 100, checkpointEvery: 500 })
    .addHelpText(
      'after',
      '\nExamples:\n  $ glasslm train --data corpus.txt --out my-model --steps 2000\n  $ glasslm generate --model my-model "In the beginning"\n' +
        '  $ glasslm train --arch seq2seq --pairs dates.tsv --out dates --layers 2 --dim 96 --vocab 512 --steps 1500 --batch 32 --lr 1e-3\n' +
        '  $ glasslm generate --model dates "the third of March 1998"',
    )
    .action(async (o: TrainCliOptions) => {
      const arch = o.arch ?? (o.resume && (await checkpointIsSeq2seq(o.out)) ? 'seq2seq' : 'gpt2');
      if (arch === 'seq2seq') return trainSeq2seq(o);
      if (arch !== 'gpt2') throw new GlassError('BAD_INPUT', `--arch ${arch}: expected gpt2 or seq2seq`);
      if (o.pairs !== undefined)
        throw new GlassError(
          'BAD_INPUT',
          '--pairs trains an encoder-decoder: add --arch seq2seq (or pass --data text)',
        );
      // Everything is checked before anything is written.
      const { folder, checkpoint } = await prepareOutput(o, [o.data]);
      const resumed = checkpoint?.state;
      const dataPath = o.data ?? resumed?.data.path;
      if (!dataPath) throw new GlassError('BAD_INPUT', 'pass --data <file>');
      const text = await readTrainingText(dataPath);
      const contextLength = resumed ? resumed.options.seqLen : o.context;
      const options = loopOptions(o, contextLength, { steps: 2000, lr: 3e-4 }, resumed);
      await selectKernels(o.threads);

      let tokenizerFiles: TokenizerFiles;
      let spec: Pick<Parameters<typeof decoderRun>[0], 'config' | 'decoder'>;
      if (checkpoint) {
        const m = await loadModel(checkpoint.dir);
        tokenizerFiles = new Map([
          ['tokenizer.json', await readFile(join(checkpoint.dir, 'tokenizer.json'))],
        ]);
        spec = { config: m.config, decoder: m.decoder };
      } else {
        const t0 = performance.now();
        const bpe = trainBpe(countWords(text), { vocabSize: o.vocab });
        const json = JSON.stringify(bpeTokenizerJson(bpe));
        tokenizerFiles = new Map([['tokenizer.json', json]]);
        process.stderr.write(
          `tokenizer: ${bpe.vocabSize} tokens (256 bytes + ${bpe.vocabSize - 257} merges + <|endoftext|>) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
        );
        spec = await createGpt2(
          {
            nLayers: o.layers,
            nHeads: o.heads,
            dim: o.dim,
            contextLength,
            vocabSize: bpe.vocabSize,
            eosTokenId: bpe.endOfText,
          },
          o.seed ?? 1,
        );
      }
      const tokenizer = loadTokenizerFromJson(
        JSON.parse(new TextDecoder().decode(toBytes(tokenizerFiles.get('tokenizer.json')!))),
        join(o.out, 'tokenizer.json'),
      );
      const corpus = await loadOrEncodeCorpus(
        o.out,
        dataPath,
        text,
        tokenizer,
        tokenizerKey(tokenizerFiles),
        false,
      );
      const { train, val } = splitCorpus(corpus, dataPath, o, contextLength, resumed);
      process.stderr.write(
        `data: ${corpus.ids.length.toLocaleString('en-US')} tokens${corpus.cached ? ' (cached)' : ''} · train ${train.length.toLocaleString('en-US')} · val ${val.length.toLocaleString('en-US')}\n`,
      );
      const evalEvery = o.evalEvery ?? 100;
      await runInFolder(
        folder,
        corpus,
        {
          dir: o.out,
          kind: 'train',
          title: `glasslm train: ${spec.decoder.nLayers} layers × ${spec.decoder.dim} dims, vocab ${spec.decoder.vocabSize}`,
          ...decoderRun({
            config: spec.config,
            decoder: spec.decoder,
            tokenizerFiles,
            data: { train, val, path: dataPath, sha256: corpus.sha256 },
            options,
          }),
          options,
          evalEvery,
          checkpointEvery: o.checkpointEvery ?? 500,
          resume: resumed,
        },
        evalEvery,
      );
    });
}

/** True when `out` holds a checkpoint of an encoder-decoder (its config.json is a Marian one). */
async function checkpointIsSeq2seq(out: string): Promise<boolean> {
  try {
    const state = await readTrainerState(out);
    if (!state) return false;
    const config = JSON.parse(await readFile(join(checkpointDir(out, state), 'config.json'), 'utf8'));
    return config.model_type === 'marian';
  } catch {
    return false; // the gpt2 path opens the checkpoint and names what is wrong with it
  }
}

/** Names for the two sides of a pairs line in errors. */
const SEQ2SEQ_SIDES = ['source', 'target'] as const;

/**
 * `train --arch seq2seq`: a Marian-style encoder-decoder on (source, target) pairs. A byte-level BPE learned
 * from both sides (+ <|endoftext|>, which ends every target, + <pad>, the decoder's start token); sources
 * encoded exactly as `generate` encodes a prompt (tokenizer.encode, nothing appended); the last
 * --val-fraction of the pairs held out. The output is an HF Marian folder with generation_config.json.
 */
async function trainSeq2seq(o: TrainCliOptions): Promise<void> {
  if (o.data !== undefined)
    throw new GlassError(
      'BAD_INPUT',
      '--arch seq2seq trains on pairs: pass --pairs <file> (source<TAB>target)',
    );
  const { folder, checkpoint } = await prepareOutput(o, [o.pairs]);
  const resumed = checkpoint?.state;
  const pairsPath = o.pairs ?? resumed?.data.path;
  if (!pairsPath) throw new GlassError('BAD_INPUT', 'pass --pairs <file> (one "source<TAB>target" per line)');
  const text = await readTrainingText(pairsPath);
  const pairs = parsePairs(text, pairsPath, SEQ2SEQ_SIDES);
  const sha = sha256(text);
  checkSameData(sha, pairsPath, resumed);
  const split = splitPairs(pairs, o.valFraction ?? 0.1, pairsPath);
  const contextLength = resumed ? resumed.options.seqLen : o.context;
  const options = loopOptions(o, contextLength, { steps: 2000, lr: 3e-4 }, resumed);
  await selectKernels(o.threads);

  let model: Seq2Seq;
  let configJson: Readonly<Record<string, unknown>>;
  let otherFiles: ModelFiles;
  if (checkpoint) {
    const m = await loadModel(checkpoint.dir);
    if (!m.seq2seq) throw new GlassError('BAD_FILE', `${checkpoint.dir}: not an encoder-decoder checkpoint`);
    model = m.seq2seq;
    configJson = m.config.raw;
    otherFiles = new Map();
    for (const name of ['tokenizer.json', 'generation_config.json'])
      otherFiles.set(name, await readFile(join(checkpoint.dir, name)));
  } else {
    if (o.vocab < 258)
      throw new GlassError(
        'BAD_INPUT',
        `--vocab ${o.vocab}: seq2seq needs at least 258 (256 bytes, <|endoftext|>, <pad>)`,
      );
    if (o.dim % o.heads !== 0)
      throw new GlassError('BAD_INPUT', `--dim ${o.dim} is not divisible by --heads ${o.heads}`);
    const t0 = performance.now();
    const words = new Map<string, number>();
    for (const [source, target] of pairs) countWords(target, countWords(source, words));
    const bpe = trainBpe(words, { vocabSize: o.vocab - 1 });
    const tok = seq2seqTokenizerJson(bpe);
    process.stderr.write(
      `tokenizer: ${tok.vocabSize} tokens (256 bytes + ${bpe.vocabSize - 257} merges + <|endoftext|> + <pad>) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
    const shape: MarianShape = {
      dim: o.dim,
      encoderLayers: o.layers,
      decoderLayers: o.layers,
      nHeads: o.heads,
      ffnDim: 4 * o.dim,
      vocabSize: tok.vocabSize,
      contextLength,
      padTokenId: tok.pad,
      eosTokenId: tok.eos,
    };
    configJson = marianConfigJson(shape);
    model = (await createMarian(shape, o.seed ?? 1)).model;
    const generation = {
      decoder_start_token_id: tok.pad,
      eos_token_id: tok.eos,
      pad_token_id: tok.pad,
      bad_words_ids: [[tok.pad]],
      max_length: contextLength,
      do_sample: false,
      num_beams: 1,
    };
    otherFiles = new Map([
      ['tokenizer.json', JSON.stringify(tok.json)],
      ['generation_config.json', JSON.stringify(generation, null, 2) + '\n'],
    ]);
  }
  const tokenizer = loadTokenizerFromJson(
    JSON.parse(new TextDecoder().decode(toBytes(otherFiles.get('tokenizer.json')!))),
    join(o.out, 'tokenizer.json'),
  );
  const eos = tokenizer.specialTokens.eos;
  if (eos === undefined) throw new GlassError('BAD_FILE', `${o.out}: the tokenizer has no end-of-text token`);
  // as `generate` encodes its prompt: the source as it is, nothing appended
  const encode = (ps: typeof pairs, first: number): IdPair[] =>
    ps.map(([source, target], i) => {
      const ids = [tokenizer.encode(source), tokenizer.encode(target)] as const;
      if (ids[0].length > contextLength || ids[1].length + 1 > contextLength) {
        throw new GlassError(
          'BAD_INPUT',
          `${pairsPath}: pair ${first + i + 1} (${ids[0].length} source, ${ids[1].length} target tokens) does not fit --context ${contextLength} (the target needs one more for end-of-text)`,
        );
      }
      return ids;
    });
  const train = encode(split.train, 0);
  const val = encode(split.val, split.train.length);
  const run = seq2seqRun({
    configJson,
    model,
    otherFiles,
    pairs: { train, val, path: pairsPath, sha256: sha },
    eos,
    options,
  });
  process.stderr.write(
    `data: ${pairs.length} pairs · train ${train.length} · val ${val.length} (${Math.min(val.length, options.evalBatches * options.batch)} scored per evaluation) · ${run.data.tokens.toLocaleString('en-US')} tokens\n`,
  );
  const evalEvery = o.evalEvery ?? 100;
  await runInFolder(
    folder,
    undefined,
    {
      ...run,
      dir: o.out,
      kind: 'train',
      title: `glasslm train --arch seq2seq: ${model.encoder.blocks.length}+${model.decoder.blocks.length} layers × ${model.decoder.dim} dims, vocab ${model.vocabSize}`,
      options,
      evalEvery,
      checkpointEvery: o.checkpointEvery ?? 500,
      resume: resumed,
    },
    evalEvery,
  );
}

function toBytes(d: Uint8Array | string): Uint8Array {
  return typeof d === 'string' ? new TextEncoder().encode(d) : d;
}
