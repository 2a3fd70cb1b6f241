// `glasslm embed` and `glasslm similarity`: sentence vectors from an embedding model (BERT family).
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadEmbedder } from '../embed/load.js';
import { cosine } from '../embed/pooling.js';

function warnTruncation(texts: string[]) {
  return (i: number, tokens: number, kept: number) =>
    process.stderr.write(
      `glasslm: warning: text ${i + 1} (${JSON.stringify(texts[i].slice(0, 30))}…) is ${tokens} tokens; only the first ${kept} are used\n`,
    );
}

export function register(program: Command): void {
  program
    .command('embed')
    .description('turn texts into sentence vectors with an embedding model (BERT / sentence-transformers)')
    .argument('<text...>', 'one or more texts (each argument is one text)')
    .requiredOption(
      '-m, --model <folder|hub-id>',
      'a sentence-transformers or BERT model folder, or a hub id',
    )
    .option('--jsonl <file>', 'write one JSON line per text ({text, vector}) instead of printing')
    .option('--digits <n>', 'decimals printed per value', '5')
    .addHelpText(
      'after',
      '\nExample:\n  $ glasslm embed --model sentence-transformers/all-MiniLM-L6-v2 "The cat sat" "A dog ran"',
    )
    .action(async (texts: string[], opts: { model: string; jsonl?: string; digits: string }) => {
      const e = await loadEmbedder(opts.model);
      const vecs = e.embed(texts, { onTruncate: warnTruncation(texts) });
      if (opts.jsonl) {
        await writeFile(
          opts.jsonl,
          texts.map((text, i) => JSON.stringify({ text, vector: Array.from(vecs[i]) })).join('\n') + '\n',
        );
        process.stderr.write(`${texts.length} vectors of ${e.dim} dims written to ${opts.jsonl}\n`);
        return;
      }
      const d = Number(opts.digits);
      texts.forEach((t, i) => {
        process.stdout.write(
          `${JSON.stringify(t)}\n[${Array.from(vecs[i], (v) => v.toFixed(d)).join(', ')}]\n`,
        );
      });
      process.stderr.write(
        `${e.dim} dims · ${e.pooling} pooling${e.normalize ? ' · normalised' : ''} · ${e.source}\n`,
      );
    });

  program
    .command('similarity')
    .description('cosine similarity of two texts under an embedding model')
    .argument('<a>', 'first text')
    .argument('<b>', 'second text')
    .requiredOption(
      '-m, --model <folder|hub-id>',
      'a sentence-transformers or BERT model folder, or a hub id',
    )
    .action(async (a: string, b: string, opts: { model: string }) => {
      const e = await loadEmbedder(opts.model);
      const [va, vb] = e.embed([a, b], { onTruncate: warnTruncation([a, b]) });
      process.stdout.write(`${cosine(va, vb).toFixed(6)}\n`);
    });
}
