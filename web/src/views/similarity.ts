// ≈ — similarity of two texts under the server's embedding model, explained: the cosine, each text's
// tokens coloured by their term of it (diverging: red pushes the score up, blue pulls it down), the
// token×token pair terms as a heatmap, and the strongest pairs. Click a token to colour the other text
// by its pair terms with that token. The split itself is computed by the server (src/embed/explain.ts).
import * as api from '../api.js';
import { scaleLinear } from 'd3';
import { colorLegend } from '../charts.js';
import { DIVERGING, lutCss } from '../colors.js';
import { byId, fmt, h, hideTip, pct, showTip, widthOf } from '../dom.js';
import { canvasHeatmap, svgMatrix } from '../heatmap.js';
import { state, type SimilarityExplanation } from '../state.js';

/** Above this many tokens on a side, the pair heatmap is a canvas instead of one SVG rect per cell. */
const SVG_MAX_TOKENS = 96;

type Side = 'a' | 'b';
type Tok = SimilarityExplanation['tokens']['a'][number];

export async function runSimilarity(a: string, b: string): Promise<SimilarityExplanation> {
  return api.similarity(a, b, 12);
}

/** Maps a signed value to [0, 1] around the diverging scale's white middle. */
const divergeT = (v: number, max: number) => (max > 0 ? (v / max + 1) / 2 : 0.5);

function maxAbs(values: Iterable<number>): number {
  let m = 0;
  for (const v of values) if (Math.abs(v) > m) m = Math.abs(v);
  return m;
}

function signed(v: number, digits = 3): string {
  return (v > 0 ? '+' : '') + fmt(v, digits);
}

const label = (t: Tok) => `${t.index} ${t.text}`;

function tokenTitle(t: Tok, side: Side, value: number, what: string): string {
  const from = t.special
    ? 'added by the tokenizer'
    : t.end > t.start
      ? `bytes ${t.start}..${t.end}`
      : 'no bytes';
  return `${side.toUpperCase()} #${t.index} ${t.text} · id ${t.id} · ${from}\n${what}: ${signed(value, 4)}`;
}

function pairValue(x: SimilarityExplanation, side: Side, j: number): number {
  const f = state.simFocus;
  if (!f) return NaN;
  return side === 'b' ? x.pairs[f.index][j] : x.pairs[j][f.index];
}

function chips(x: SimilarityExplanation, side: Side): HTMLElement[] {
  const f = state.simFocus;
  const byPair = f !== null && f.side !== side;
  const toks = x.tokens[side];
  const values = toks.map((t, j) => (byPair ? pairValue(x, side, j) : t.contribution));
  const max = byPair ? maxAbs(values) : maxAbs([...x.tokens.a, ...x.tokens.b].map((t) => t.contribution));
  return toks.map((t, j) => {
    const v = values[j];
    const tt = divergeT(v, max);
    const focused = f !== null && f.side === side && f.index === j;
    const chip = h(
      'button',
      {
        type: 'button',
        class:
          'tok sim-tok' +
          (t.special ? ' special' : '') +
          (Math.abs(tt - 0.5) > 0.3 ? ' dark' : '') +
          (focused ? ' focus' : ''),
        style: `--tok:${lutCss(DIVERGING, tt)}`,
        title: byPair
          ? tokenTitle(t, side, v, `pair term with ${f.side.toUpperCase()} #${f.index}`)
          : tokenTitle(t, side, v, `contribution (${pct(Math.abs(t.share))} of the score)`),
        'data-index': j,
        'data-contribution': t.contribution,
      },
      h('span', { class: 'tok-text', text: t.text }),
      h('span', { class: 'tok-id', text: signed(v) }),
    );
    chip.addEventListener('click', () => {
      state.simFocus = focused ? null : { side, index: j };
      renderSimilarity();
    });
    return chip;
  });
}

function pairHeatmap(box: HTMLElement, x: SimilarityExplanation): void {
  const A = x.tokens.a;
  const B = x.tokens.b;
  const M = x.pairs;
  const max = maxAbs(M.flat());
  const readout = byId('sim-readout');
  const tip = (i: number, j: number, ev: MouseEvent) => {
    const v = M[i]?.[j];
    if (v === undefined) return;
    const text =
      `A #${i} ${A[i].text} × B #${j} ${B[j].text}: ${signed(v, 4)}` +
      (x.cosine !== 0 ? ` (${fmt((100 * v) / x.cosine, 3)}% of the score)` : '');
    readout.textContent = text;
    showTip(ev, text);
  };
  const focusA = (i: number) => {
    state.simFocus = { side: 'a', index: i };
    renderSimilarity();
  };
  const focusRow = state.simFocus?.side === 'a' ? state.simFocus.index : null;
  const focusCol = state.simFocus?.side === 'b' ? state.simFocus.index : null;
  if (Math.max(A.length, B.length) > SVG_MAX_TOKENS) {
    canvasHeatmap(box, {
      rows: M,
      labels: A.map(label),
      lut: DIVERGING,
      scale: (v) => divergeT(v, max),
      width: widthOf(box),
      cellH: 8,
      minCellW: 4,
      maxCellW: 12,
      maxHeight: 520,
      focusRow,
      onHover: tip,
      onLeave: hideTip,
      onClickRow: focusA,
    });
  } else
    svgMatrix(box, {
      rowLabels: A.map(label),
      colLabels: B.map(label),
      fill: (i, j) => lutCss(DIVERGING, divergeT(M[i][j], max)),
      width: widthOf(box, 240),
      maxHeight: 540,
      minCell: 8,
      svgClass: 'att-svg sim-svg',
      rowClass: (i) => (A[i].special ? ' special' : ''),
      colClass: (j) => (B[j].special ? ' special' : ''),
      focusRow,
      focusCol,
      onHover: tip,
      onLeave: hideTip,
      onClickCell: focusA,
    });
  box.append(legend(max, 'a pair’s term'));
}

function pairBars(box: HTMLElement, x: SimilarityExplanation): void {
  const max = maxAbs(x.topPairs.map((p) => p.contribution));
  box.replaceChildren(
    ...x.topPairs.map((p) => {
      const a = x.tokens.a[p.a];
      const b = x.tokens.b[p.b];
      const f = max > 0 ? Math.abs(p.contribution) / max : 0;
      const fill = h('span', {
        class: 'sim-fill' + (p.contribution < 0 ? ' neg' : ''),
        style:
          `width:${(f * 50).toFixed(2)}%;` +
          `background:${lutCss(DIVERGING, p.contribution < 0 ? 0.15 : 0.85)}`,
      });
      return h(
        'div',
        { class: 'sim-pair', title: `A #${p.a} × B #${p.b}: ${signed(p.contribution, 4)}` },
        h('span', { class: 'sim-pair-label', text: `${a.text} ↔ ${b.text}` }),
        h('span', { class: 'sim-track' }, fill),
        h('span', { class: 'bar-p', text: signed(p.contribution) }),
      );
    }),
  );
}

/** The diverging scale of the chips and the pair heatmap: what pulls the score down, what pushes it up. */
function legend(max: number, what: string): HTMLElement {
  return colorLegend({
    lut: DIVERGING,
    scale: scaleLinear()
      .domain([-(max || 1), max || 1])
      .range([0, 1]),
    title: `${what}: blue pulls the score down, red pushes it up`,
  });
}

/** Draws the panel from state: hidden without a server; a hint without an embedding model. */
export function renderSimilarity(): void {
  const card = byId('sec-similarity');
  card.hidden = !api.hasServer;
  // The engine in this page runs the model loaded into it, a generator: never an embedding model.
  const inPage = api.engine() === 'local';
  const e = inPage ? null : state.embedder;
  const info = byId('sim-model');
  for (const el of card.querySelectorAll<HTMLInputElement | HTMLButtonElement>('#sim-form input'))
    el.disabled = !e;
  byId<HTMLButtonElement>('sim-run').disabled = !e || state.simBusy;
  if (!e) {
    info.textContent = inPage
      ? 'The model loaded into this page is a text generator; comparing texts needs a sentence-embedding model, ' +
        'which runs on the server only: start glasslm serve --model … --embedder <folder|hub-id> and open its page.'
      : 'No embedding model on this server: start it with glasslm serve --model … --embedder <folder|hub-id>.';
    byId('sim-result').hidden = true;
    return;
  }
  const src = e.source.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
  info.textContent = `${src} · ${e.nLayers} layers · dim ${e.dim} · ${e.pooling} pooling${e.normalize ? ' · normalised' : ''} · up to ${e.maxTokens} tokens`;
  const x = state.similarity;
  byId('sim-result').hidden = !x;
  if (!x) return;
  if (
    state.simFocus &&
    state.simFocus.index >= (state.simFocus.side === 'a' ? x.tokens.a : x.tokens.b).length
  )
    state.simFocus = null;
  byId('sim-cos').textContent = `cosine ${x.cosine.toFixed(4)}`;
  const cut = (['a', 'b'] as const)
    .filter((k) => x.truncated[k] !== null)
    .map((k) => `${k.toUpperCase()} cut from ${x.truncated[k]} tokens`);
  byId('sim-meta').textContent =
    `${x.tokens.a.length} × ${x.tokens.b.length} tokens` + (cut.length ? ` · ${cut.join(', ')}` : '');
  byId('sim-tokens-a').replaceChildren(...chips(x, 'a'));
  byId('sim-tokens-b').replaceChildren(...chips(x, 'b'));
  const f = state.simFocus;
  byId('sim-focus').textContent = f
    ? `${f.side === 'a' ? 'B' : 'A'} coloured by its pair terms with ${f.side.toUpperCase()} #${f.index} ${
        x.tokens[f.side][f.index].text
      } (click it again for the contributions)`
    : 'Each token shows its term of the score; a text’s terms sum to the cosine. Click a token to see its pairs.';
  byId('sim-note').replaceChildren(
    legend(maxAbs([...x.tokens.a, ...x.tokens.b].map((t) => t.contribution)), 'a token’s term of the score'),
    h('span', { text: `Dashed: [CLS]/[SEP], added by the tokenizer. ${x.note}.` }),
  );
  pairHeatmap(byId('sim-heatmap'), x);
  pairBars(byId('sim-pairs'), x);
}
