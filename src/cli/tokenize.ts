// `glasslm tokenize`: stage 1 on its own — each token of a text with its id and byte span.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadTokenizerFromFolder } from '../tokenizers/load-node.js';
import { loadTokenizerFromVocabMerges } from '../tokenizers/load.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { resolveModel } from '../formats/hub.js';
import { bundledGpt2TokenizerFiles } from './common.js';

async function gpt2Tokenizer(): Promise<Tokenizer> {
  const { vocab, merges } = bundledGpt2TokenizerFiles();
  return loadTokenizerFromVocabMerges(
    JSON.parse(await readFile(vocab, 'utf8')),
    await readFile(merges, 'utf8'),
    vocab,
  );
}

export function register(program: Command): void {
  program
    .command('tokenize')
    .description("split a text into tokens and print each token's id and UTF-8 byte span")
    .argument('<text...>', 'the text to tokenize (several arguments are joined with spaces)')
    .option('-m, --model <folder|hub-id>', "use this model's tokenizer (default: GPT-2's byte-level BPE)")
    .option('--no-special', 'treat special-token text such as <|endoftext|> as ordinary characters')
    .option('--json', 'print JSON instead of a table')
    .addHelpText('after', '\nExample:\n  $ glasslm tokenize "The bank of the river"')
    .action(async (words: string[], opts: { model?: string; special: boolean; json?: boolean }) => {
      const text = words.join(' ');
      const tok = opts.model
        ? await loadTokenizerFromFolder(await resolveModel(opts.model))
        : await gpt2Tokenizer();
      const spans = tok.encodeWithSpans(text, { allowSpecial: opts.special });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ text, tokens: spans }, null, 2) + '\n');
        return;
      }
      const w = String(spans.length).length;
      const idw = Math.max(2, ...spans.map((s) => String(s.id).length));
      const bw = Math.max(5, ...spans.map((s) => `${s.start}..${s.end}`.length));
      process.stdout.write(`${'#'.padStart(w)}  ${'id'.padStart(idw)}  ${'bytes'.padEnd(bw)}  token\n`);
      spans.forEach((s, i) => {
        process.stdout.write(
          `${String(i).padStart(w)}  ${String(s.id).padStart(idw)}  ${`${s.start}..${s.end}`.padEnd(bw)}  ${JSON.stringify(s.text)}\n`,
        );
      });
      const bytes = new TextEncoder().encode(text).length;
      process.stdout.write(`${spans.length} tokens, ${bytes} bytes, ${text.length} UTF-16 chars\n`);
    });
}
