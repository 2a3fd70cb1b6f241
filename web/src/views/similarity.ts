// ≈ — similarity of two texts under the server's embedding model, explained: the cosine, each text's
// tokens coloured by their term of it (diverging: red pushes the score up, blue pulls it down), the
// token×token pair terms as a heatmap, and the strongest pairs. Click a token to colour the other text
// by its pair terms with that token. The split itself is computed by the server (src/embed/explain.ts).
import * as api from '../api.js';
import { DIVERGING, lutCss } from '../colors.js';
import { byId, fmt, h, hideTip, pct, s, showTip, widthOf } from '../dom.js';
import { canvasHeatmap } from '../heatmap.js';
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
      onClickRow: (r) => {
        state.simFocus = { side: 'a', index: r };
        renderSimilarity();
      },
    });
    return;
  }
  const avail = widthOf(box, 240);
  const short = (t: Tok) => {
    const n = label(t);
    return n.length > 14 ? n.slice(0, 13) + '…' : n;
  };
  const labelW = Math.min(110, Math.max(60, avail * 0.22));
  const cs = Math.max(8, Math.min(26, Math.floor((avail - labelW - 8) / Math.max(1, B.length))));
  const colLabels = cs >= 11;
  const top = colLabels ? 74 : 6;
  // Room on the right for the last column labels, which lean that way.
  const W = labelW + B.length * cs + (colLabels ? 60 : 4);
  const H = top + A.length * cs + 4;
  const fontSize = Math.min(12, Math.max(8, cs - 2));
  const svg = s('svg', { width: W, height: H, class: 'att-svg sim-svg', 'data-cells': A.length * B.length });
  A.forEach((t, i) => {
    svg.append(
      s('text', {
        x: labelW - 4,
        y: top + i * cs + cs / 2 + fontSize / 3,
        'text-anchor': 'end',
        'font-size': fontSize,
        class: 'row-label' + (focusRow === i ? ' focus' : '') + (t.special ? ' special' : ''),
        text: short(t),
      }),
    );
  });
  if (colLabels) {
    B.forEach((t, j) => {
      const cx = labelW + j * cs + cs / 2 + fontSize / 3;
      svg.append(
        s('text', {
          x: cx,
          y: top - 4,
          transform: `rotate(-60 ${cx} ${top - 4})`,
          'font-size': fontSize,
          class: 'col-label' + (focusCol === j ? ' focus' : '') + (t.special ? ' special' : ''),
          text: short(t),
        }),
      );
    });
  }
  const cells = s('g', { class: 'cells' });
  for (let i = 0; i < A.length; i++) {
    for (let j = 0; j < B.length; j++) {
      cells.append(
        s('rect', {
          x: labelW + j * cs,
          y: top + i * cs,
          width: cs - (cs > 8 ? 1 : 0),
          height: cs - (cs > 8 ? 1 : 0),
          class: 'cell',
          fill: lutCss(DIVERGING, divergeT(M[i][j], max)),
          'data-i': i,
          'data-j': j,
        }),
      );
    }
  }
  cells.addEventListener('mousemove', (ev) => {
    const t = ev.target as SVGElement;
    if (t.dataset.i !== undefined) tip(Number(t.dataset.i), Number(t.dataset.j), ev);
  });
  cells.addEventListener('mouseleave', hideTip);
  cells.addEventListener('click', (ev) => {
    const t = ev.target as SVGElement;
    if (t.dataset.i === undefined) return;
    state.simFocus = { side: 'a', index: Number(t.dataset.i) };
    renderSimilarity();
  });
  svg.append(cells);
  if (focusRow !== null)
    svg.append(
      s('rect', {
        x: labelW - 1,
        y: top + focusRow * cs - 1,
        width: B.length * cs + 1,
        height: cs + 1,
        class: 'focus-outline',
      }),
    );
  if (focusCol !== null)
    svg.append(
      s('rect', {
        x: labelW + focusCol * cs - 1,
        y: top - 1,
        width: cs + 1,
        height: A.length * cs + 1,
        class: 'focus-outline',
      }),
    );
  const wrap = h('div', { class: 'att-scroll' });
  wrap.append(svg);
  box.replaceChildren(wrap);
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

function legend(): HTMLElement {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `${lutCss(DIVERGING, t)} ${t * 100}%`).join(', ');
  return h(
    'span',
    { class: 'sim-legend muted small' },
    'pulls the score down',
    h('i', { style: `background:linear-gradient(to right, ${stops})` }),
    'pushes it up',
  );
}

/** Draws the panel from state: hidden without a server; a hint without an embedding model. */
export function renderSimilarity(): void {
  const card = byId('sec-similarity');
  card.hidden = !api.hasServer;
  const e = state.embedder;
  const info = byId('sim-model');
  for (const el of card.querySelectorAll<HTMLInputElement | HTMLButtonElement>('#sim-form input'))
    el.disabled = !e;
  byId<HTMLButtonElement>('sim-run').disabled = !e || state.simBusy;
  if (!e) {
    info.textContent =
      'No embedding model on this server: start it with glasslm serve --model … --embedder <folder|hub-id>.';
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
    legend(),
    h('span', { text: `Dashed: [CLS]/[SEP], added by the tokenizer. ${x.note}.` }),
  );
  pairHeatmap(byId('sim-heatmap'), x);
  pairBars(byId('sim-pairs'), x);
}
