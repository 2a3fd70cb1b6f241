// `glasslm embed` and `glasslm similarity`: sentence vectors from an embedding model (BERT family).
// `similarity --explain` shows which tokens of each text drive the cosine (src/embed/explain.ts).
import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { ExplainedToken, SimilarityExplanation } from '../embed/explain.js';
import { loadEmbeddingModel } from '../embed/load.js';
import { DEFAULT_EMBEDDER } from '../search/embedder.js';
import { cosine } from '../embed/pooling.js';
import { resolveEmbedderSource } from './index-cmd.js';

// Not a required option: commander checks those before the arguments, and a missing text is the first thing
// to say; resolveEmbedderSource explains a missing --model once the arguments are known to be right.
const EMBEDDER_HELP =
  'a sentence-transformers or BERT model folder, a hub id, a word-vector folder or word2vec:<vectors file> ' +
  `(default: the bundled ${DEFAULT_EMBEDDER}, KJV word vectors, SIF-weighted)`;

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * A diverging bar around an axis │, `pos` cells standing for `max`: a positive value grows right in █ (to
 * an eighth of a cell), a negative one grows left in ░ (whole cells) within the `neg` cells kept there.
 */
export function divergingBar(value: number, max: number, pos: number, neg: number): string {
  const cells = max > 0 ? (Math.abs(value) / max) * pos : 0;
  if (value < 0) {
    const n = Math.min(neg, Math.round(cells));
    return ' '.repeat(neg - n) + '░'.repeat(n) + '│';
  }
  const c = Math.min(pos, cells);
  const full = Math.floor(c);
  return ' '.repeat(neg) + '│' + '█'.repeat(full) + (full < pos ? EIGHTHS[Math.floor((c - full) * 8)] : '');
}

/** Cells left of the axis for the most negative of these values (0 when none is negative). */
function negCells(values: number[], max: number, pos: number): number {
  const worst = Math.max(0, ...values.map((v) => -v));
  return max > 0 ? Math.ceil((worst / max) * pos) : 0;
}

function shown(text: string, width: number): string {
  const t = JSON.stringify(text).slice(1, -1).replace(/\\"/g, '"');
  return t.length > width ? t.slice(0, width - 1) + '…' : t;
}

const signed = (v: number, d = 5) => (v < 0 ? '' : '+') + v.toFixed(d);
const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

/** The explanation as the terminal shows it: the cosine, each text's tokens with bars, the top pairs. */
export function renderSimilarityExplanation(x: SimilarityExplanation, width = 24): string {
  const all = [...x.tokens.a, ...x.tokens.b];
  const max = Math.max(0, ...all.map((t) => Math.abs(t.contribution)));
  const neg = negCells(
    all.map((t) => t.contribution),
    max,
    width,
  );
  // * a token the tokenizer added; – a word not in a word-vector model's vocabulary (skipped)
  const mark = (t: ExplainedToken) => (t.special ? '*' : t.skipped ? '–' : '');
  const tokW = Math.min(18, Math.max(6, ...all.map((t) => shown(t.text, 18).length + mark(t).length)));
  const unit = x.pooling === 'sif' || all.some((t) => t.skipped) ? 'word' : 'token';
  const out: string[] = [];
  out.push(
    `cosine ${x.cosine.toFixed(6)} · ${x.pooling} pooling${x.normalize ? ' · normalised' : ''} · ` +
      `each text's ${unit} contributions below sum to it`,
  );
  const text = (name: 'a' | 'b', toks: ExplainedToken[]) => {
    const cut = x.truncated[name];
    out.push(
      '',
      `${name.toUpperCase()} ${JSON.stringify(x.texts[name])} · ${toks.length} ${unit}s` +
        (cut !== null ? ` (cut from ${cut})` : ''),
    );
    for (const t of toks) {
      const label = (shown(t.text, 18) + mark(t)).padEnd(tokW);
      out.push(
        `  ${String(t.index).padStart(3)} ${label} ${signed(t.contribution).padStart(9)} ` +
          `${percent(t.share).padStart(6)}  ${divergingBar(t.contribution, max, width, neg)}`,
      );
    }
  };
  text('a', x.tokens.a);
  text('b', x.tokens.b);
  if (x.topPairs.length) {
    const pmax = Math.max(...x.topPairs.map((p) => Math.abs(p.contribution)));
    const pneg = negCells(
      x.topPairs.map((p) => p.contribution),
      pmax,
      width,
    );
    const names = x.topPairs.map((p) => {
      const ta = x.tokens.a[p.a];
      const tb = x.tokens.b[p.b];
      return `${p.a}:${shown(ta.text, 14)}${mark(ta)} ↔ ${p.b}:${shown(tb.text, 14)}${mark(tb)}`;
    });
    const w = Math.max(...names.map((n) => n.length));
    out.push(
      '',
      `top ${unit} pairs (A ↔ B; all ${x.pairs.length}×${x.pairs[0]?.length ?? 0} pairs sum to the cosine)`,
    );
    x.topPairs.forEach((p, k) => {
      out.push(
        `  ${names[k].padEnd(w)} ${signed(p.contribution).padStart(9)} ${percent(p.share).padStart(6)}  ` +
          divergingBar(p.contribution, pmax, width, pneg),
      );
    });
  }
  out.push('', `${all.some((t) => t.special) ? '* added by the tokenizer. ' : ''}${x.note}.`);
  return out.join('\n') + '\n';
}

function topOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number >= 0');
  return n;
}

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
    .option('-m, --model <folder|hub-id>', EMBEDDER_HELP)
    .option('--jsonl <file>', 'write one JSON line per text ({text, vector}) instead of printing')
    .option('--digits <n>', 'decimals printed per value', '5')
    .addHelpText(
      'after',
      '\nExample:\n  $ glasslm embed --model sentence-transformers/all-MiniLM-L6-v2 "The cat sat" "A dog ran"',
    )
    .action(async (texts: string[], opts: { model?: string; jsonl?: string; digits: string }) => {
      const e = await loadEmbeddingModel(await resolveEmbedderSource(opts.model));
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
    .option('-m, --model <folder|hub-id>', EMBEDDER_HELP)
    .option('--explain', 'show which tokens (and token pairs) of each text drive the score')
    .option('--json', 'print the explanation as JSON (implies --explain)')
    .option('--top <n>', 'how many token pairs to list with --explain', topOption, 10)
    .addHelpText(
      'after',
      '\nThe cosine splits exactly into per-token terms through the pooling (mean: token i of A adds ' +
        'h_i·v̂ / (n·|u|);\nCLS: all on [CLS]; max: each dimension to its argmax token), and into token-pair ' +
        'terms.\n\nExample:\n  $ glasslm similarity --model sentence-transformers/all-MiniLM-L6-v2 --explain ' +
        '"A cat sat" "A dog ran"',
    )
    .action(
      async (
        a: string,
        b: string,
        opts: { model?: string; explain?: boolean; json?: boolean; top: number },
      ) => {
        const e = await loadEmbeddingModel(await resolveEmbedderSource(opts.model));
        if (opts.explain || opts.json) {
          const x = e.explain(a, b, { onTruncate: warnTruncation([a, b]), topPairs: opts.top });
          process.stdout.write(opts.json ? JSON.stringify(x) + '\n' : renderSimilarityExplanation(x));
          return;
        }
        const [va, vb] = e.embed([a, b], { onTruncate: warnTruncation([a, b]) });
        process.stdout.write(`${cosine(va, vb).toFixed(6)}\n`);
      },
    );
}
