// `glasslm eval`: how well a model predicts a text — mean next-token loss and perplexity. Parsing and
// printing only: the scoring is src/train/evaluate.ts, through the same forward pass `generate` uses.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { encodeCorpus } from '../train/data.js';
import { decoderLoss } from '../train/evaluate.js';
import { GlassError } from '../util/errors.js';
import { intOption, loadCliModel, modelOption, selectKernels, threadsOption } from './common.js';

interface EvalCliOptions {
  model?: string;
  tokenizer?: string;
  revision?: string;
  data: string;
  context?: number;
  json?: boolean;
  threads?: number;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('score a text with a model: mean next-token cross-entropy (nats/token) and perplexity')
    .addOption(modelOption('the model to score with'))
    .option('--tokenizer <file>', 'tokenizer file for a checkpoint that has none beside it')
    .option('--revision <rev>', 'hub revision (branch, tag or commit)', 'main')
    .requiredOption('--data <file>', 'the text to score (UTF-8; documents may be separated by <|endoftext|>)')
    .option(
      '--context <n>',
      "tokens per window (default: the model's context, at most 512)",
      intOption('context', 2),
    )
    .option('--json', 'print JSON')
    .addOption(threadsOption(1))
    .addHelpText('after', '\nExample:\n  $ glasslm eval --model my-model --data held-out.txt')
    .action(async (o: EvalCliOptions) => {
      await selectKernels(o.threads);
      const model = await loadCliModel(o);
      let text: string;
      try {
        text = await readFile(o.data, 'utf8');
      } catch (e) {
        throw new GlassError(
          'NOT_FOUND',
          `${o.data}: cannot read (${(e as NodeJS.ErrnoException).code ?? e})`,
        );
      }
      const seqLen = Math.min(o.context ?? 512, model.contextLength);
      const ids = encodeCorpus(model.tokenizer, text, { addBos: model.addBos });
      if (ids.length < 2) throw new GlassError('BAD_INPUT', `${o.data}: fewer than two tokens to score`);
      const t0 = performance.now();
      const r = decoderLoss(model.decoder, ids, seqLen, (done, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\rscoring ${done}/${total} tokens`);
      });
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      const seconds = (performance.now() - t0) / 1000;
      if (o.json) {
        process.stdout.write(
          JSON.stringify({ model: model.source, data: o.data, ...r, seconds }, null, 2) + '\n',
        );
        return;
      }
      process.stdout.write(
        `loss ${r.loss.toFixed(4)} nats/token · perplexity ${r.perplexity.toFixed(3)} · ${r.tokens} tokens ` +
          `(${(r.loss / Math.LN2).toFixed(3)} bits/token) in ${seconds.toFixed(1)} s\n`,
      );
    });
}
