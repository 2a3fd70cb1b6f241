// `glasslm finetune`: keep training a loaded GPT-2 or Llama model (every weight) on a text file, and save it
// as a Hugging Face folder of its family (config.json, model.safetensors, its tokenizer) that `generate`
// loads. Parsing and printing only: the work is in src/train/.
import type { Command } from 'commander';
import { loadModel } from '../models/load.js';
import { loadOrEncodeCorpus, tokenizerFilesFor, tokenizerKey } from '../train/checkpoint-node.js';
import { inHfLayout } from '../train/export.js';
import { GlassError } from '../util/errors.js';
import { intOption, loadCliModel, modelOption, selectKernels } from './common.js';
import {
  addLoopOptions,
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
}

export function register(program: Command): void {
  const cmd = program
    .command('finetune')
    .description('fine-tune every weight of a GPT-2 or Llama model on a text file; saves an HF model folder')
    .addOption(modelOption('the model to start from'))
    .option('--tokenizer <file>', 'tokenizer file for a checkpoint that has none beside it')
    .option('--revision <rev>', 'hub revision (branch, tag or commit)', 'main')
    .option(
      '--data <file>',
      'the training text (UTF-8; documents separated by <|endoftext|>); with --resume, the same by default',
    )
    .requiredOption(
      '--out <folder>',
      'where the fine-tuned model, checkpoints, metrics.jsonl and loss.svg go',
    )
    .option(
      '--context <n>',
      "tokens per window (default: the model's context, at most 256)",
      intOption('context', 2),
    );
  addLoopOptions(cmd, { steps: 200, lr: 1e-4, evalEvery: 50, checkpointEvery: 100 })
    .addHelpText(
      'after',
      '\nExample:\n  $ glasslm finetune --model ../shared/models/stories260K-llama2c/stories260K.bin --data stories.txt --out my-stories\n' +
        '  $ glasslm generate --model my-stories --greedy "Once upon a time"',
    )
    .action(async (o: FinetuneCliOptions & { context?: number }) => {
      // Everything is checked before anything is written; --out may never be the model read.
      const { folder, checkpoint } = await prepareOutput(o, [o.model, o.tokenizer, o.data]);
      const resumed = checkpoint?.state;
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
          config: model.config,
          decoder: model.decoder,
          tokenizerFiles,
          data: { train, val, path: dataPath, sha256: corpus.sha256 },
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
