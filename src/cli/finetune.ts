// `glasslm finetune`: keep training a loaded model (every weight) and save it as a folder of its kind.
//   GPT-2 or Llama on a text file (--data): a Hugging Face folder of its family (config.json,
//     model.safetensors, its tokenizer) that `generate` loads.
//   A BERT / sentence-transformers embedder on text pairs (--pairs, "anchor<TAB>positive" lines; in-batch
//     contrastive loss): a sentence-transformers folder that `embed`, `similarity` and `index` load.
// Parsing and printing only: the work is in src/train/.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadEmbedder } from '../embed/load.js';
import { parseHfConfig } from '../formats/hf-config.js';
import { resolveModel } from '../formats/hub.js';
import { loadModel } from '../models/load-node.js';
import {
  loadOrEncodeCorpus,
  sentenceTransformersFiles,
  sha256,
  tokenizerFilesFor,
  tokenizerKey,
} from '../train/checkpoint-node.js';
import { inHfLayout } from '../train/export.js';
import { parsePairs, splitPairs } from '../train/pairs.js';
import { decoderRun, encoderRun } from '../train/run-node.js';
import { GlassError } from '../util/errors.js';
import { intOption, loadCliModel, modelOption, selectKernels } from './common.js';
import {
  addLoopOptions,
  checkSameData,
  loopOptions,
  prepareOutput,
  readTrainingText,
  runInFolder,
  splitCorpus,
  type LoopCliOptions,
} from './train.js';

interface FinetuneCliOptions extends LoopCliOptions {
  model?: string;
  tokenizer?: string;
  revision?: string;
  pairs?: string;
  context?: number;
}

const PAIRS_FORMAT = 'one "anchor<TAB>positive" per line';

/** True when `source` (a folder or hub id) is a BERT-family encoder: a sentence-embedding model. */
async function isEncoder(source: string, revision?: string): Promise<boolean> {
  let dir = source;
  if (!existsSync(source)) {
    if (source.startsWith('.') || source.startsWith('/')) return false; // a missing path: loading says so
    try {
      dir = await resolveModel(source, { revision });
    } catch {
      return false; // not found or not a hub id: loading it as a generator says why, as it always has
    }
  } else if (!statSync(source).isDirectory()) return false;
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return false;
  try {
    return parseHfConfig(JSON.parse(await readFile(path, 'utf8')), path).modelType === 'bert';
  } catch {
    return false; // not one glasslm reads as an encoder: the decoder path names the problem
  }
}

/**
 * Fine-tunes a sentence-embedding model on pairs: tokenized as the embedder tokenizes ([CLS] … [SEP], cut at
 * its max_seq_length), the tail held out for validation, saved as a sentence-transformers folder.
 */
async function finetuneEncoder(
  o: FinetuneCliOptions,
  model: string,
  prepared: Awaited<ReturnType<typeof prepareOutput>>,
): Promise<void> {
  const { folder, checkpoint } = prepared;
  const resumed = checkpoint?.state;
  const pairsPath = o.pairs ?? resumed?.data.path;
  if (!pairsPath) throw new GlassError('BAD_INPUT', `pass --pairs <file> (${PAIRS_FORMAT})`);
  if (o.context !== undefined) {
    throw new GlassError(
      'BAD_INPUT',
      "--context is for text (generators); an embedding model's texts are cut at its own max_seq_length",
    );
  }
  const text = await readTrainingText(pairsPath);
  const pairs = parsePairs(text, pairsPath);
  const sha = sha256(text);
  checkSameData(sha, pairsPath, resumed);
  const split = splitPairs(pairs, o.valFraction ?? 0.1, pairsPath);
  if (resumed) loopOptions(o, resumed.options.seqLen, { steps: 200, lr: 1e-4 }, resumed);
  await selectKernels(o.threads);
  // Resuming reads the model back from the checkpoint (a sentence-transformers folder).
  const embedder = await loadEmbedder(model);
  if (!checkpoint) await prepareOutput(o, [embedder.source]);
  if (embedder.pooling !== 'mean') {
    throw new GlassError(
      'UNSUPPORTED',
      `${embedder.source}: fine-tuning trains mean-pooled embeddings; this model pools by "${embedder.pooling}"`,
    );
  }
  const ids = (ps: typeof pairs) => ps.map(([a, p]) => [embedder.inputIds(a), embedder.inputIds(p)] as const);
  const train = ids(split.train);
  const val = ids(split.val);
  const seqLen = resumed ? resumed.options.seqLen : embedder.maxTokens;
  const options = loopOptions(o, seqLen, { steps: 200, lr: 1e-4 }, resumed);
  const source = resumed?.source ?? embedder.source;
  const run = encoderRun({
    configJson: embedder.config.raw,
    encoder: embedder.encoder,
    pipelineFiles: await sentenceTransformersFiles(embedder.source),
    pairs: { train, val, path: pairsPath, sha256: sha },
    padId: embedder.config.padTokenId,
    options,
  });
  process.stderr.write(
    `model: ${source} (bert, ${embedder.dim} dims) · data: ${pairs.length} pairs · train ${train.length} · val ${val.length} · at most ${seqLen} tokens a text\n`,
  );
  const evalEvery = o.evalEvery ?? 50;
  await runInFolder(
    folder,
    undefined,
    {
      ...run,
      dir: o.out,
      kind: 'finetune',
      title: `glasslm finetune: ${source} (pairs, contrastive loss)`,
      options,
      evalEvery,
      checkpointEvery: o.checkpointEvery ?? 100,
      resume: resumed,
      source,
    },
    evalEvery,
    { perplexity: false },
  );
}

export function register(program: Command): void {
  const cmd = program
    .command('finetune')
    .description(
      'fine-tune every weight of a GPT-2 or Llama model on a text file (--data), or of a sentence-embedding (BERT) model on text pairs (--pairs); saves a model folder of its kind',
    )
    .addOption(
      modelOption('the model to start from (a generator, or a sentence-embedding model for --pairs)'),
    )
    .option('--tokenizer <file>', 'tokenizer file for a checkpoint that has none beside it')
    .option('--revision <rev>', 'hub revision (branch, tag or commit)', 'main')
    .option(
      '--data <file>',
      'GPT-2/Llama: the training text (UTF-8; documents separated by <|endoftext|>); with --resume, the same by default',
    )
    .option(
      '--pairs <file>',
      `sentence-embedding models: text pairs that should embed alike, ${PAIRS_FORMAT} (UTF-8; each anchor's negatives are the other pairs' positives); with --resume, the same by default`,
    )
    .requiredOption(
      '--out <folder>',
      'where the fine-tuned model, checkpoints, metrics.jsonl and loss.svg go',
    )
    .option(
      '--context <n>',
      "GPT-2/Llama: tokens per window (default: the model's context, at most 256)",
      intOption('context', 2),
    );
  addLoopOptions(cmd, { steps: 200, lr: 1e-4, evalEvery: 50, checkpointEvery: 100 })
    .addHelpText(
      'after',
      '\nExamples:\n  $ glasslm finetune --model ../shared/models/stories260K-llama2c/stories260K.bin --data stories.txt --out my-stories\n' +
        '  $ glasslm generate --model my-stories --greedy "Once upon a time"\n' +
        '  $ glasslm finetune --model sentence-transformers/all-MiniLM-L6-v2 --pairs pairs.tsv --out my-embedder --batch 16\n' +
        '  $ glasslm similarity --model my-embedder "a question" "its answer"\n' +
        '\n--model may also be a sentence-transformers (BERT, MiniLM) folder or hub id: it is then trained with\n' +
        "--pairs (in-batch contrastive loss, sentence-transformers' MultipleNegativesRankingLoss) and saved as a\n" +
        'sentence-transformers folder. --batch is then pairs per step (at least 2).',
    )
    .action(async (o: FinetuneCliOptions) => {
      // Everything is checked before anything is written; --out may never be the model read.
      const prepared = await prepareOutput(o, [o.model, o.tokenizer, o.data, o.pairs]);
      const { folder, checkpoint } = prepared;
      const resumed = checkpoint?.state;
      // The bundled default (no --model) is a generator.
      const what = checkpoint ? checkpoint.dir : o.model;
      if (what !== undefined && (await isEncoder(what, checkpoint ? undefined : o.revision))) {
        if (o.data !== undefined) {
          throw new GlassError(
            'BAD_INPUT',
            `${o.model ?? what} is a sentence-embedding model: fine-tune it on text pairs with --pairs <file> (${PAIRS_FORMAT}), not --data`,
          );
        }
        return finetuneEncoder(o, what, prepared);
      }
      if (o.pairs !== undefined) {
        throw new GlassError(
          'BAD_INPUT',
          `${o.model ?? what ?? 'the bundled model'} is a text generator: fine-tune it on text with --data <file>; --pairs is for sentence-embedding (BERT) models`,
        );
      }
      const dataPath = o.data ?? resumed?.data.path;
      if (!dataPath) throw new GlassError('BAD_INPUT', 'pass --data <file>');
      const text = await readTrainingText(dataPath);
      if (resumed) loopOptions(o, resumed.options.seqLen, { steps: 200, lr: 1e-4 }, resumed);
      await selectKernels(o.threads);
      // Resuming reads the model back from the checkpoint (an HF folder); a fresh run loads --model
      // (the bundled model when absent).
      const loaded = checkpoint ? await loadModel(checkpoint.dir) : await loadCliModel(o);
      // A hub id, a link or the bundled default resolves to a path only now: it may not be the output either.
      if (!checkpoint) await prepareOutput(o, [loaded.source]);
      const tokenizerFiles = await tokenizerFilesFor(loaded, resumed ? undefined : o.tokenizer);
      const model = resumed ? loaded : await inHfLayout(loaded);
      const seqLen = resumed ? resumed.options.seqLen : Math.min(o.context ?? 256, loaded.contextLength);
      if (seqLen > loaded.contextLength) {
        throw new GlassError(
          'BAD_INPUT',
          `--context ${seqLen} is longer than the model's context length (${loaded.contextLength})`,
        );
      }
      const corpus = await loadOrEncodeCorpus(
        o.out,
        dataPath,
        text,
        loaded.tokenizer,
        tokenizerKey(tokenizerFiles),
        loaded.addBos,
      );
      const { train, val } = splitCorpus(corpus, dataPath, o, seqLen, resumed);
      process.stderr.write(
        `model: ${resumed?.source ?? loaded.source} (${model.config.modelType}) · data: ${corpus.ids.length.toLocaleString('en-US')} tokens${corpus.cached ? ' (cached)' : ''} · train ${train.length.toLocaleString('en-US')} · val ${val.length.toLocaleString('en-US')}\n`,
      );
      const options = loopOptions(o, seqLen, { steps: 200, lr: 1e-4 }, resumed);
      const evalEvery = o.evalEvery ?? 50;
      await runInFolder(
        folder,
        corpus,
        {
          dir: o.out,
          kind: 'finetune',
          title: `glasslm finetune: ${resumed?.source ?? loaded.source}`,
          ...decoderRun({
            config: model.config,
            decoder: model.decoder,
            tokenizerFiles,
            data: { train, val, path: dataPath, sha256: corpus.sha256 },
            options,
          }),
          options,
          evalEvery,
          checkpointEvery: o.checkpointEvery ?? 100,
          resume: resumed,
          source: resumed?.source ?? loaded.source,
        },
        evalEvery,
      );
    });
}
