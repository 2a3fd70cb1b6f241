// `glasslm tokenize`: stage 1 on its own — each token of a text with its id and byte span.
import type { Command } from 'commander';
import { loadCliModel, modelOption } from './common.js';

interface TokenizeCliOptions {
  model?: string;
  tokenizer?: string;
  revision?: string;
  special: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('tokenize')
    .description("split a text into tokens and print each token's id and UTF-8 byte span")
    .argument('<text...>', 'the text to tokenize (several arguments are joined with spaces)')
    .addOption(modelOption('the model whose tokenizer to use (the one generate and explain use)'))
    .option(
      '--tokenizer <file>',
      'tokenizer file (tokenizer.bin/.model/.json) for a checkpoint that has none',
    )
    .option('--revision <rev>', 'hub revision (branch, tag or commit)', 'main')
    .option('--no-special', 'treat special-token text such as <|endoftext|> as ordinary characters')
    .option('--json', 'print JSON instead of a table')
    .addHelpText('after', '\nExample:\n  $ glasslm tokenize "The bank of the river"')
    .action(async (words: string[], opts: TokenizeCliOptions) => {
      const text = words.join(' ');
      // The same resolution and loading as generate/explain, so the ids are the ones they see.
      const model = await loadCliModel(opts);
      const tok = model.tokenizer;
      const spans = tok.encodeWithSpans(text, { allowSpecial: opts.special });
      // The model starts every prompt with its BOS token (Llama): show it, as explain's trace does.
      const bos = tok.specialTokens.bos;
      if (model.addBos && bos !== undefined) {
        spans.unshift({ id: bos, text: tok.idToToken(bos) ?? '<s>', start: 0, end: 0 });
      }
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
