// `glasslm generate`: a prompt becomes a response, streamed token by token.
import { InvalidArgumentError, type Command } from 'commander';
import type { EarlyStopping } from '../generate/beam.js';
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
  beams?: number;
  lengthPenalty?: number;
  earlyStopping?: EarlyStopping;
  /** --no-repeat-ngram <n>: commander files a `--no-` option under its positive name (true when absent). */
  repeatNgram?: number | boolean;
  numReturn?: number;
}

function earlyStoppingOption(v: string): EarlyStopping {
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'never') return v;
  throw new InvalidArgumentError('early-stopping must be true, false or never');
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
      .option(
        '--beams <n>',
        'beam search with n beams (Hugging Face semantics; default: generation_config.json num_beams, else 1 = off). ' +
          'Beams cannot stream: the text is printed whole when the search ends',
        intOption('beams', 1),
      )
      .option(
        '--length-penalty <x>',
        'beam search: rank finished beams by log-prob / length^x; > 0 favours longer ones (default 1)',
        floatOption('length-penalty', -Infinity),
      )
      .option(
        '--early-stopping <when>',
        'beam search: true = stop at n finished beams, false = HF heuristic (default), never = only when no beam can win',
        earlyStoppingOption,
      )
      .option(
        '--no-repeat-ngram <n>',
        'never repeat an n-gram of n tokens, the prompt included (also without beams; default 0 = off)',
        intOption('no-repeat-ngram', 0),
      )
      .option(
        '--num-return <n>',
        'beam search: print the n best beams, best first, each with its score (n <= --beams; default 1)',
        intOption('num-return', 1),
      )
      .option('--no-stats', 'do not print the stop reason and speed to stderr'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ glasslm generate --model openai-community/gpt2 --seed 1 "Once upon a time"\n' +
        '  $ glasslm generate --beams 4 --num-return 2 --no-repeat-ngram 3 "And God said"   # printed when done',
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
        numBeams: opts.beams,
        lengthPenalty: opts.lengthPenalty,
        earlyStopping: opts.earlyStopping,
        noRepeatNgramSize: typeof opts.repeatNgram === 'number' ? opts.repeatNgram : undefined,
        numReturnSequences: opts.numReturn,
      });
      const beams = (opts.beams ?? model.generationDefaults.numBeams ?? 1) > 1;
      // a decoder continues the prompt; an encoder-decoder (translation) writes a new text from it
      const shown = model.seq2seq ? '' : prompt;
      if (!beams) {
        process.stdout.write(shown);
        for await (const piece of gen) process.stdout.write(piece);
        process.stdout.write('\n');
      } else {
        for await (const _ of gen); // beams: nothing streams; the sequences come at the end
      }
      process.off('SIGINT', onSigint);
      const r = await gen.result;
      if (beams && r.sequences) {
        const many = r.sequences.length > 1;
        r.sequences.forEach((q, i) => {
          if (many)
            process.stdout.write(
              `[${i + 1}] score ${q.score.toFixed(4)} (log-prob ${q.logprob.toFixed(4)})\n`,
            );
          process.stdout.write(`${shown}${q.text}\n`);
        });
      }
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
