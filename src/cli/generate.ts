// `glasslm generate`: a prompt becomes a response, streamed token by token.
import type { Command } from 'commander';
import {
  collect,
  floatOption,
  intOption,
  addEngineOptions,
  kernelsLabel,
  loadCliModel,
  modelOption,
  type EngineCliOptions,
} from './common.js';

interface GenerateCliOptions extends EngineCliOptions {
  model?: string;
  tokenizer?: string;
  revision?: string;
  maxTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stop: string[];
  greedy?: boolean;
  stats: boolean;
}

const REASONS = {
  eos: 'end of text',
  stop: 'stop string',
  'max-tokens': 'max tokens',
  context: 'context length',
  aborted: 'interrupted',
} as const;

export function register(program: Command): void {
  addEngineOptions(
    program
      .command('generate')
      .description(
        'continue a prompt with a language model, streaming the response (an encoder-decoder such as a Marian translation model writes its output for the prompt instead)',
      )
      .argument('[prompt...]', 'the prompt (several arguments are joined with spaces; empty = start of text)')
      .addOption(modelOption())
      .option(
        '--tokenizer <file>',
        'tokenizer file (tokenizer.bin/.model/.json) for a checkpoint that has none',
      )
      .option('--revision <rev>', 'hub revision (branch, tag or commit)', 'main')
      .option('-n, --max-tokens <n>', 'most new tokens to generate', intOption('max-tokens', 0), 128)
      .option(
        '-t, --temperature <t>',
        "sampling temperature, 0 = greedy (default: the model's generation_config.json, else 1)",
        floatOption('temperature', 0),
      )
      .option(
        '-k, --top-k <k>',
        'sample from the k most likely tokens, 0 = all (default: generation_config.json, else 0)',
        intOption('top-k', 0),
      )
      .option(
        '-p, --top-p <p>',
        'sample from the smallest set with this much probability (default: generation_config.json, else 1)',
        floatOption('top-p', 0, 1),
      )
      .option('-s, --seed <n>', 'random seed (the same seed gives the same text)', intOption('seed', 0))
      .option('--stop <string>', 'stop when this string appears (repeatable)', collect, [])
      .option('--greedy', 'always take the most likely token')
      .option('--no-stats', 'do not print the stop reason and speed to stderr'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ glasslm generate --model openai-community/gpt2 --seed 1 "Once upon a time"',
    )
    .action(async (words: string[], opts: GenerateCliOptions) => {
      const model = await loadCliModel(opts, opts);
      const prompt = words.join(' ');
      const ac = new AbortController();
      const onSigint = () => ac.abort();
      process.once('SIGINT', onSigint);
      const gen = model.generate(prompt, {
        maxTokens: opts.maxTokens,
        temperature: opts.temperature,
        topK: opts.topK,
        topP: opts.topP,
        seed: opts.seed,
        stop: opts.stop,
        greedy: opts.greedy,
        signal: ac.signal,
      });
      // a decoder continues the prompt; an encoder-decoder (translation) writes a new text from it
      if (!model.seq2seq) process.stdout.write(prompt);
      for await (const piece of gen) process.stdout.write(piece);
      process.stdout.write('\n');
      process.off('SIGINT', onSigint);
      const r = await gen.result;
      if (r.stopReason === 'context') {
        process.stderr.write(
          `glasslm: stopped: the model's context length (${model.contextLength} tokens) is full\n`,
        );
      }
      if (opts.stats) {
        const tps = r.decodeSeconds > 0 ? (r.ids.length / r.decodeSeconds).toFixed(1) : '-';
        process.stderr.write(
          `[${REASONS[r.stopReason]} · prompt ${r.promptIds.length} tokens in ${r.prefillSeconds.toFixed(2)} s · ` +
            `${r.ids.length} new tokens at ${tps} tokens/s · ${kernelsLabel(opts)}]\n`,
        );
      }
    });
}
