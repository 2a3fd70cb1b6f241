// 5 — how context changes meaning: one word's residual vector in two prompts, compared layer by layer.
import * as api from '../api.js';
import { lineChart } from '../charts.js';
import { byId, fmt, showToken, widthOf } from '../dom.js';
import { cosine } from '../pca.js';
import { state, type ContextResult, type Trace } from '../state.js';

const enc = new TextEncoder();

/** Token indices covering the last whole-word occurrence of `word` in the prompt. */
export function wordTokens(trace: Trace, word: string): number[] {
  const text = trace.prompt;
  const re = new RegExp(
    `(^|[^\\p{L}\\p{N}])(${word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})(?=$|[^\\p{L}\\p{N}])`,
    'giu',
  );
  let found = -1;
  for (let m = re.exec(text); m; m = re.exec(text)) found = m.index + m[1].length;
  if (found < 0) {
    const i = text.toLowerCase().lastIndexOf(word.toLowerCase());
    if (i < 0) return [];
    found = i;
  }
  const bs = enc.encode(text.slice(0, found)).length;
  const be = bs + enc.encode(text.slice(found, found + word.length)).length;
  const out: number[] = [];
  trace.tokens.forEach((t, i) => {
    if (t.end > t.start && t.start < be && t.end > bs) out.push(i);
  });
  return out;
}

function meanRows(rows: number[][] | undefined, idx: number[]): number[] {
  if (!rows || !idx.length) return [];
  const d = rows[idx[0]].length;
  const m = new Array<number>(d).fill(0);
  for (const i of idx) for (let k = 0; k < d; k++) m[k] += rows[i][k] / idx.length;
  return m;
}

/** Per stage (embedding, then after each layer): the word's vector, mean over its tokens. */
function stages(trace: Trace, idx: number[]): number[][] {
  const out = [meanRows(trace.layers[0]?.residualIn, idx)];
  for (const l of trace.layers) out.push(meanRows(l.residualOut, idx));
  return out;
}

export async function runContext(a: string, b: string, word: string): Promise<ContextResult> {
  const opts = { vectors: 'full', attention: false, topK: 1, lens: 'last', precision: 6 } as const;
  const [ta, tb] = await Promise.all([api.trace(a, opts), api.trace(b, opts)]);
  const ia = wordTokens(ta, word);
  const ib = wordTokens(tb, word);
  if (!ia.length) throw new Error(`"${word}" does not occur in prompt A`);
  if (!ib.length) throw new Error(`"${word}" does not occur in prompt B`);
  const sa = stages(ta, ia);
  const sb = stages(tb, ib);
  return {
    a,
    b,
    word,
    cos: sa.map((v, i) => cosine(v, sb[i])),
    stageLabels: ['emb', ...ta.layers.map((l) => `L${l.layer}`)],
    tokensA: ia.map((i) => showToken(ta.tokens[i].text)),
    tokensB: ib.map((i) => showToken(tb.tokens[i].text)),
  };
}

export function renderContext(): void {
  const box = byId('ctx-chart');
  const note = byId('ctx-note');
  const btn = byId<HTMLButtonElement>('ctx-run');
  btn.disabled = !state.model || state.busy;
  const r = state.context;
  if (!r) {
    box.replaceChildren();
    note.textContent = state.model
      ? 'Press Compare to run both prompts.'
      : 'Needs the server (glasslm serve): both prompts are run through the model.';
    return;
  }
  const width = Math.min(760, widthOf(box));
  lineChart(box, r.stageLabels, [{ name: `cos(“${r.word}” in A, in B)`, values: r.cos, color: '#ae3ec9' }], {
    width,
    height: 220,
    yDomain: [Math.min(0, ...r.cos), 1],
  });
  note.textContent =
    `Tokens of “${r.word}”: A ${r.tokensA.join(' ')} · B ${r.tokensB.join(' ')}. ` +
    `Similarity ${fmt(r.cos[0], 3)} at the embedding${r.cos.length > 1 ? `, ${fmt(r.cos[r.cos.length - 1], 3)} after the last layer` : ''}` +
    ' — the lower it goes, the more the two contexts have pulled the two “' +
    r.word +
    '”s apart.';
}
