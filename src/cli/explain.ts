// `glasslm explain`: one prompt's trip through the model, drawn in the terminal — tokens, an attention
// heatmap, the logit lens, and the next-token distribution; for an encoder-decoder (translation), the
// source, the output and the cross-attention alignment. --json writes the whole trace.
import { writeFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { alignment } from '../trace/alignment.js';
import { contextualSimilarity, type ContextualComparison } from '../trace/contextual.js';
import type { Trace, TraceOptions } from '../trace/schema.js';
import {
  intOption,
  addEngineOptions,
  loadCliModel,
  loadCliVectors,
  modelOption,
  type EngineCliOptions,
} from './common.js';

const SHADES = [' ', '░', '▒', '▓', '█'];
const MAX_COLS = 48;
/** Steps a translation model's explain takes unless --steps says (it stops at </s>). */
const SEQ2SEQ_STEPS = 64;

function label(text: string, width: number): string {
  const shown = JSON.stringify(text).slice(1, -1).replace(/\\"/g, '"');
  return shown.length > width ? shown.slice(0, width - 1) + '…' : shown.padEnd(width);
}

function shade(p: number): string {
  // sqrt spreads the small weights that carry most of the pattern over the five shades
  const i = Math.min(SHADES.length - 1, Math.round(Math.sqrt(Math.max(0, p)) * (SHADES.length - 1)));
  return SHADES[i];
}

function bar(p: number, width: number): string {
  const n = p * width;
  const full = Math.floor(n);
  const parts = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
  return '█'.repeat(full) + (full < width ? parts[Math.floor((n - full) * 8)] : '');
}

/** A heatmap row per `rows` label over `cols` (one shade a column), the strongest column named at its end. */
function heatmap(rows: string[], cols: string[], weight: (i: number, j: number) => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    let cells = '';
    let best = 0;
    let bestP = -1;
    for (let j = 0; j < cols.length; j++) {
      const p = weight(i, j);
      if (p > bestP) {
        bestP = p;
        best = j;
      }
      cells += shade(p);
    }
    out.push(
      `   ${label(rows[i], 12)} │${cells}│ → ${label(cols[best], 10).trim()} ${(bestP * 100).toFixed(0)}%`,
    );
  }
  return out;
}

/**
 * An encoder-decoder's trace: the source, the output, and the alignment (output tokens × source tokens) of
 * one decoder layer (an index into trace.layers) and head, or their means.
 */
export function renderAlignment(trace: Trace, layerIdx: number | 'mean', head: number | 'mean'): string {
  const a = alignment(trace, trace.steps, layerIdx, head);
  if (!a) throw new Error('renderAlignment: not an encoder-decoder trace');
  const m = trace.model;
  const e = m.encoder!;
  const out: string[] = [
    `${m.family} (encoder-decoder) · encoder ${e.nLayers} layers × ${e.nHeads} heads · decoder ${m.nLayers} layers × ` +
      `${m.nHeads} heads · ${m.dim} dims · ${m.positional} positions · ${m.vocabSize} tokens · ${m.source}`,
    '',
    `1. source tokens (${a.source.length}, what the encoder reads)`,
    '   ' + a.source.map((t, j) => `${j}:${JSON.stringify(t.text)}=${t.id}`).join('  '),
    '',
    `2. output (${a.output.length} tokens): ${JSON.stringify(a.output.map((t) => t.text).join(''))}` +
      (trace.beams
        ? ` · the best hypothesis of beam search with ${(trace.beams.steps[0]?.candidates.length ?? 0) / 2} beams ` +
          `(${trace.beams.steps.length} steps; the tree is in --json)`
        : ''),
  ];
  if (a.output.length > 0 && a.weights.every((r) => r.every((p) => !Number.isNaN(p)))) {
    const cols = a.source.slice(0, MAX_COLS);
    const which =
      (layerIdx === 'mean'
        ? `mean of ${trace.layers.length} layers`
        : `layer ${trace.layers[layerIdx].layer}`) +
      ' · ' +
      (head === 'mean' ? `mean of ${m.nHeads} heads` : `head ${head}`);
    out.push(
      '',
      `3. alignment · cross-attention · ${which} (row: an output token; columns: the source tokens 0..${cols.length - 1} ` +
        `it attended to when it was chosen; ${SHADES.slice(1).join('')} = more)`,
    );
    if (cols.length < a.source.length)
      out.push(`   (showing the first ${MAX_COLS} of ${a.source.length} source tokens)`);
    out.push(
      ...heatmap(
        a.output.map((t) => t.text),
        cols.map((t) => t.text),
        (i, j) => a.weights[i][j],
      ),
    );
  }
  return out.join('\n') + '\n';
}

export function renderExplain(trace: Trace, layer: number, head: number | 'mean'): string {
  const out: string[] = [];
  const m = trace.model;
  // RoPE's scaling and partial rotation, when the trace has them: "rope positions (llama3 scaling, 8/16 dims)"
  const rope = trace.embeddings.rope;
  const ropeNotes = [
    ...(rope?.scaling ? [`${rope.scaling.type} scaling`] : []),
    ...(rope?.rotaryDim ? [`${rope.rotaryDim}/${m.headDim} dims rotated`] : []),
  ];
  const positions = `${m.positional} positions${ropeNotes.length ? ` (${ropeNotes.join(', ')})` : ''}`;
  out.push(
    `${m.family} · ${m.nLayers} layers · ${m.nHeads} heads${m.nKvHeads !== m.nHeads ? ` (${m.nKvHeads} kv)` : ''} · ` +
      `${m.dim} dims · ${positions} · ${m.vocabSize} tokens · ${m.source}`,
  );
  out.push('', `1. tokens (${trace.tokens.length})`);
  out.push('   ' + trace.tokens.map((t) => `${JSON.stringify(t.text)}=${t.id}`).join('  '));

  const L = trace.layers.find((l) => l.layer === layer);
  if (L?.attention) {
    const T = trace.tokens.length;
    const from = Math.max(0, T - MAX_COLS);
    const heads = head === 'mean' ? L.attention : [L.attention[head]];
    const title = head === 'mean' ? `mean of ${heads.length} heads` : `head ${head}`;
    out.push(
      '',
      `2. attention · layer ${layer} · ${title} (row: a token; columns: what it attends to; ${SHADES.slice(1).join('')} = more)`,
    );
    if (L.window)
      out.push(
        `   sliding window: each token sees itself and the ${L.window - 1} tokens before it (older ones: 0)`,
      );
    if (L.softcap) out.push(`   scores soft-capped: ${L.softcap}·tanh(s / ${L.softcap}) before the softmax`);
    if (from > 0) out.push(`   (showing the last ${MAX_COLS} of ${T} tokens)`);
    const shown = trace.tokens.slice(from).map((t) => t.text);
    out.push(
      ...heatmap(shown, shown, (i, j) => heads.reduce((a, h) => a + h[from + i][from + j], 0) / heads.length),
    );
  }

  out.push(
    '',
    `3. logit lens (what each layer's residual would predict next after ${JSON.stringify(trace.tokens[trace.tokens.length - 1].text)})`,
  );
  for (const l of trace.layers) {
    const cands = l.lens[l.lens.length - 1].slice(0, 4);
    out.push(
      `   layer ${String(l.layer).padStart(2)}  ` +
        cands.map((c) => `${label(c.text, 10)} ${(c.prob * 100).toFixed(1).padStart(5)}%`).join('  '),
    );
  }

  out.push('', '4. next token');
  for (const c of trace.output.top) {
    out.push(`   ${label(c.text, 14)} ${(c.prob * 100).toFixed(2).padStart(6)}%  ${bar(c.prob, 40)}`);
  }
  if (trace.steps.length > 0) {
    out.push('', `5. generated: ${JSON.stringify(trace.steps.map((s) => s.token.text).join(''))}`);
  }
  return out.join('\n') + '\n';
}

/** Most sentences `explain --contextual` compares (their pairs are the table's columns). */
export const MAX_CONTEXTUAL_SENTENCES = 8;

/**
 * `explain --contextual`: the word's tokens in each sentence, then the cosine between its vectors in each
 * pair of sentences, one row a layer (the embedding, then after each block), and the static row.
 */
export function renderContextual(
  c: ContextualComparison,
  about: { model: string; vectors: string | null },
): string {
  const out = [
    `"${c.word}" in ${c.occurrences.length} sentences · ${about.model}` +
      (about.vectors ? ` · word2vec ${about.vectors}` : ''),
  ];
  const sw = Math.max(...c.occurrences.map((o) => JSON.stringify(o.sentence).length));
  c.occurrences.forEach((o, s) => {
    const toks = o.indices.map((i, k) => `${i}:${JSON.stringify(o.tokens[k].text)}`).join(' + ');
    out.push(
      `   S${s + 1}  ${JSON.stringify(o.sentence).padEnd(sw)}  → ${toks}` +
        (o.indices.length > 1 ? ` (mean of ${o.indices.length} tokens)` : '') +
        (o.occurrences > 1 ? ` (the first of ${o.occurrences} occurrences)` : ''),
    );
  });
  const cols = c.pairs.map(([a, b]) => `S${a + 1}·S${b + 1}`);
  const w = Math.max(7, ...cols.map((x) => x.length)) + 2;
  const rowLabels = c.layers.map((name, l) => `${l} ${l === 0 ? name : `after ${name}`}`);
  const lw = Math.max(16, ...rowLabels.map((x) => x.length)) + 2;
  const row = (label: string, xs: number[]) =>
    '   ' + label.padEnd(lw) + xs.map((x) => x.toFixed(4).padStart(w)).join('');
  out.push(
    '',
    `cosine similarity of "${c.word}" between the sentences (1 = the same direction), layer by layer`,
    '   ' + 'layer'.padEnd(lw) + cols.map((x) => x.padStart(w)).join(''),
    ...c.cosines.map((xs, l) => row(rowLabels[l], xs)),
  );
  if (c.static) out.push(row('word2vec (static)', c.static.cosines));
  out.push('');
  if (c.averaged)
    out.push('   a word split into several sub-word tokens is followed as the mean of their vectors');
  out.push(
    '   the model reads left to right: the word’s vector holds the words before it, never those after',
  );
  if (c.static)
    out.push(`   word2vec gives "${c.word}" one vector (${c.static.dim} dims) in every sentence: cosine 1`);
  return out.join('\n') + '\n';
}

interface ExplainCliOptions extends EngineCliOptions {
  model?: string;
  tokenizer?: string;
  layer?: number;
  head?: string;
  topK: number;
  steps?: number;
  beams?: number;
  json?: string;
  summary?: boolean;
  contextual?: string;
  vectors?: string;
}

export function register(program: Command): void {
  addEngineOptions(
    program
      .command('explain')
      .description(
        'show how a model reads a prompt: tokens, attention, logit lens and the next-token distribution',
      )
      .argument('<prompt...>', 'the prompt (several arguments are joined with spaces)')
      .addOption(modelOption())
      .option('--tokenizer <file>', 'tokenizer file for a llama2.c checkpoint')
      .option(
        '-l, --layer <n>',
        'layer whose attention to draw (default: the last; a translation model: the mean of all layers)',
        intOption('layer', 0),
      )
      .option(
        '--head <n|mean>',
        'attention head to draw (of a translation model: its cross-attention), or "mean" of all heads',
        'mean',
      )
      .option(
        '-k, --top-k <n>',
        'candidates in the logit lens and the distribution',
        intOption('top-k', 1),
        10,
      )
      .option(
        '--steps <n>',
        `also generate this many tokens (greedily unless --beams), recording each step (default 0; a translation model: up to ${SEQ2SEQ_STEPS}, until </s>)`,
        intOption('steps', 0),
      )
      .option(
        '--beams <n>',
        'generate the steps by beam search with n beams: the winner is recorded and drawn, the beam tree is in --json ' +
          '(default: generation_config.json num_beams, else 1 = greedy)',
        intOption('beams', 1),
      )
      .option('--json <file>', 'write the whole trace as JSON to this file ("-" for stdout)')
      .option('--summary', 'record norms and statistics only, not whole vectors (smaller JSON)')
      .option(
        '--contextual <word>',
        'static vs contextual: follow <word> through each sentence given (one argument a sentence, 2 or more); ' +
          "print the cosine between its vectors in every pair of sentences at every layer, and word2vec's",
      )
      .option(
        '--vectors <file>',
        'word vectors for --contextual (word2vec text/binary or GloVe; default: the bundled KJV vectors)',
      ),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ glasslm explain --layer 2 --head 3 "The bank of the river was crowded"\n' +
        '  $ glasslm explain --model Helsinki-NLP/opus-mt-en-mg "The house is small."   # the alignment\n' +
        '  $ glasslm explain --contextual bank "by the river bank" "money in the bank"   # static vs contextual',
    )
    .action(async (words: string[], opts: ExplainCliOptions) => {
      if (opts.contextual !== undefined) return explainContextual(program, opts.contextual, words, opts);
      const model = await loadCliModel({ model: opts.model, tokenizer: opts.tokenizer }, opts);
      const nLayers = model.decoder.nLayers;
      const layer = opts.layer ?? nLayers - 1;
      const nHeads = model.decoder.blocks[0].attention.config.nHeads;
      const head = opts.head === undefined || opts.head === 'mean' ? 'mean' : Number(opts.head);
      if (head !== 'mean' && !(Number.isInteger(head) && head >= 0 && head < nHeads)) {
        program.error(`--head must be "mean" or 0..${nHeads - 1}`);
      }
      const options: TraceOptions = {
        topK: opts.topK,
        steps: opts.steps ?? (model.seq2seq ? Math.min(SEQ2SEQ_STEPS, model.contextLength - 1) : 0),
        vectors: opts.summary ? 'summary' : 'full',
      };
      const numBeams = opts.beams ?? model.generationDefaults.numBeams ?? 1;
      if (numBeams > 1) options.numBeams = numBeams;
      if (layer >= nLayers) program.error(`--layer must be 0..${nLayers - 1}`);
      const trace = model.trace(words.join(' '), options);
      if (opts.json === '-') {
        process.stdout.write(JSON.stringify(trace) + '\n');
        return;
      }
      process.stdout.write(
        model.seq2seq
          ? renderAlignment(trace, opts.layer ?? 'mean', head as number | 'mean')
          : renderExplain(trace, layer, head as number | 'mean'),
      );
      if (opts.json) {
        await writeFile(opts.json, JSON.stringify(trace));
        process.stderr.write(`trace written to ${opts.json}\n`);
      }
    });
}

async function explainContextual(
  program: Command,
  word: string,
  sentences: string[],
  opts: ExplainCliOptions,
): Promise<void> {
  if (sentences.length < 2 || sentences.length > MAX_CONTEXTUAL_SENTENCES)
    program.error(
      `--contextual compares the word in 2 to ${MAX_CONTEXTUAL_SENTENCES} sentences, one argument each ` +
        `(quote them): got ${sentences.length}`,
    );
  const vectors = await loadCliVectors(opts.vectors);
  const model = await loadCliModel({ model: opts.model, tokenizer: opts.tokenizer }, opts);
  const c = contextualSimilarity(model, word, sentences, vectors?.vectors ?? null);
  if (opts.json === '-') {
    process.stdout.write(JSON.stringify(c) + '\n');
    return;
  }
  const m = model.decoder;
  // a file under the working directory by its relative path
  const shown = (p: string) => (isAbsolute(p) && !relative('.', p).startsWith('..') ? relative('.', p) : p);
  const about = {
    model: `${model.config.modelType} · ${m.nLayers} layers · ${m.dim} dims · ${shown(model.source)}`,
    vectors: vectors
      ? `${shown(vectors.source)} (${vectors.vectors.words.length} words × ${vectors.vectors.dim})`
      : null,
  };
  process.stdout.write(renderContextual(c, about));
  if (opts.json) {
    await writeFile(opts.json, JSON.stringify(c));
    process.stderr.write(`comparison written to ${opts.json}\n`);
  }
}
