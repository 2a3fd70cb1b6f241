// `glasslm explain`: one prompt's trip through the model, drawn in the terminal — tokens, an attention
// heatmap, the logit lens, and the next-token distribution. --json writes the whole trace.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Trace, TraceOptions } from '../trace/schema.js';
import { intOption, addEngineOptions, loadCliModel, modelOption, type EngineCliOptions } from './common.js';

const SHADES = [' ', '░', '▒', '▓', '█'];
const MAX_COLS = 48;

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

export function renderExplain(trace: Trace, layer: number, head: number | 'mean'): string {
  const out: string[] = [];
  const m = trace.model;
  out.push(
    `${m.family} · ${m.nLayers} layers · ${m.nHeads} heads${m.nKvHeads !== m.nHeads ? ` (${m.nKvHeads} kv)` : ''} · ` +
      `${m.dim} dims · ${m.positional} positions · ${m.vocabSize} tokens · ${m.source}`,
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
    if (from > 0) out.push(`   (showing the last ${MAX_COLS} of ${T} tokens)`);
    for (let i = from; i < T; i++) {
      let cells = '';
      let best = from;
      let bestP = -1;
      for (let j = from; j < T; j++) {
        const p = heads.reduce((a, h) => a + h[i][j], 0) / heads.length;
        if (p > bestP) {
          bestP = p;
          best = j;
        }
        cells += shade(p);
      }
      out.push(
        `   ${label(trace.tokens[i].text, 12)} │${cells}│ → ${label(trace.tokens[best].text, 10).trim()} ${(bestP * 100).toFixed(0)}%`,
      );
    }
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

interface ExplainCliOptions extends EngineCliOptions {
  model?: string;
  tokenizer?: string;
  layer?: number;
  head?: string;
  topK: number;
  steps: number;
  json?: string;
  summary?: boolean;
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
      .option('-l, --layer <n>', 'layer whose attention to draw (default: the last)', intOption('layer', 0))
      .option('--head <n|mean>', 'attention head to draw, or "mean" of all heads', 'mean')
      .option(
        '-k, --top-k <n>',
        'candidates in the logit lens and the distribution',
        intOption('top-k', 1),
        10,
      )
      .option(
        '--steps <n>',
        'also generate this many tokens greedily, recording each step',
        intOption('steps', 0),
        0,
      )
      .option('--json <file>', 'write the whole trace as JSON to this file ("-" for stdout)')
      .option('--summary', 'record norms and statistics only, not whole vectors (smaller JSON)'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ glasslm explain --layer 2 --head 3 "The bank of the river was crowded"',
    )
    .action(async (words: string[], opts: ExplainCliOptions) => {
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
        steps: opts.steps,
        vectors: opts.summary ? 'summary' : 'full',
      };
      if (layer >= nLayers) program.error(`--layer must be 0..${nLayers - 1}`);
      const trace = model.trace(words.join(' '), options);
      if (opts.json === '-') {
        process.stdout.write(JSON.stringify(trace) + '\n');
        return;
      }
      process.stdout.write(renderExplain(trace, layer, head as number | 'mean'));
      if (opts.json) {
        await writeFile(opts.json, JSON.stringify(trace));
        process.stderr.write(`trace written to ${opts.json}\n`);
      }
    });
}
