// 4 — attention: one head's query×key heatmap (SVG cells up to a few hundred tokens, then canvas),
// lines from each token to what it attends to, and every head of the layer as a small tile.
import { scaleSqrt } from 'd3';
import { actions } from '../actions.js';
import { colorLegend } from '../charts.js';
import { SEQUENTIAL, lutCss } from '../colors.js';
import { byId, fmt, h, hideTip, s, showTip, showToken, widthOf } from '../dom.js';
import { canvasHeatmap, miniMatrix, svgMatrix } from '../heatmap.js';
import { allTokens, attentionMatrix, focusOrLast, nHeadsOf, state } from '../state.js';

/** Above this many tokens the heatmap is a canvas instead of one SVG rect per cell. */
const SVG_MAX_TOKENS = 160;

const shade = (v: number) => Math.sqrt(Math.max(0, v));

function headName(hd: number | 'mean'): string {
  return hd === 'mean' ? 'mean of heads' : `head ${hd}`;
}

export function renderAttentionControls(): void {
  const tr = state.trace;
  if (!tr) return;
  const layerSel = byId<HTMLSelectElement>('layer');
  const headSel = byId<HTMLSelectElement>('head');
  layerSel.replaceChildren(
    ...tr.layers.map((l, i) =>
      h('option', { value: i, text: `layer ${l.layer}`, selected: i === state.layerIdx }),
    ),
  );
  const H = nHeadsOf(state);
  headSel.replaceChildren(
    ...Array.from({ length: H }, (_, i) =>
      h('option', { value: i, text: `head ${i}`, selected: state.head === i }),
    ),
    h('option', { value: 'mean', text: 'mean of heads', selected: state.head === 'mean' }),
  );
}

export function renderAttention(): void {
  const tr = state.trace;
  if (!tr) return;
  const heat = byId('att-heatmap');
  const lines = byId('att-lines');
  const grid = byId('head-grid');
  const readout = byId('att-readout');
  const focusLabel = byId('focus-label');
  const toks = allTokens(state);
  const layer = tr.layers[state.layerIdx];
  if (!layer || !layer.attention) {
    heat.textContent = state.loadingAttention.has(layer?.layer ?? -1)
      ? `loading the attention weights of layer ${layer?.layer}…`
      : 'This trace has no attention weights for this layer (recorded with attention: false).';
    delete heat.dataset.n;
    lines.replaceChildren();
    grid.replaceChildren();
    return;
  }
  const M = attentionMatrix(state, state.layerIdx, state.head);
  const N = M.length;
  focusLabel.textContent =
    state.focus === null
      ? 'click a row or token to focus it'
      : `focus: #${state.focus} ${showToken(toks[state.focus]?.text ?? '')}`;
  const names = toks.map((t, i) => `${i} ${showToken(t.text)}`);
  const tip = (i: number, j: number, ev: MouseEvent) => {
    const v = M[i][j];
    const text = Number.isNaN(v)
      ? `#${i} cannot see #${j} (${j > i ? 'later token' : `outside the sliding window of ${layer.window}`})`
      : `#${i} ${showToken(toks[i].text)} → #${j} ${showToken(toks[j].text)}: ${fmt(v, 3)}`;
    readout.textContent = `layer ${layer.layer}, ${headName(state.head)} · ${text}`;
    showTip(ev, text);
  };

  const square = Math.max(4, Math.min(10, Math.floor((widthOf(heat) - 104) / Math.max(1, N))));
  if (N <= SVG_MAX_TOKENS) svgHeatmap(heat, M, names, tip);
  else
    canvasHeatmap(heat, {
      rows: M,
      labels: names,
      lut: SEQUENTIAL,
      scale: shade,
      width: widthOf(heat),
      cellH: square,
      minCellW: square,
      maxCellW: square,
      maxHeight: 520,
      focusRow: state.focus,
      onHover: tip,
      onLeave: hideTip,
      onClickRow: (r) => actions.setFocus(r),
    });
  heat.append(attentionLegend());
  heat.dataset.n = String(N);
  renderLines(lines, M, names);
  renderHeadGrid(grid);
}

function svgHeatmap(
  box: HTMLElement,
  M: number[][],
  names: string[],
  tip: (i: number, j: number, ev: MouseEvent) => void,
): void {
  svgMatrix(box, {
    rowLabels: names,
    colLabels: names,
    fill: (i, j) => (Number.isNaN(M[i][j]) ? null : lutCss(SEQUENTIAL, shade(M[i][j]))),
    width: widthOf(box, 240),
    maxHeight: 540,
    minCell: 6,
    svgClass: 'att-svg',
    focusRow: state.focus,
    onHover: tip,
    onLeave: hideTip,
    onClickCell: (i) => actions.setFocus(i),
    onClickRow: (i) => actions.setFocus(state.focus === i ? null : i),
  });
}

/** The colour scale of the attention heatmap and of the head tiles. */
function attentionLegend(): HTMLElement {
  return colorLegend({
    lut: SEQUENTIAL,
    scale: scaleSqrt().domain([0, 1]).range([0, 1]),
    title: 'attention weight (each row sums to 1)',
    note: 'grey: a later token, which a token cannot see',
    ticks: 5,
  });
}

function renderLines(box: HTMLElement, M: number[][], names: string[]): void {
  const N = M.length;
  const W = Math.max(260, Math.min(520, widthOf(box, 260)));
  // Rows as tall as they can be while all of them fit the box (540 px) without scrolling, 12 to 18 px.
  const rh = Math.max(12, Math.min(18, Math.floor(530 / Math.max(1, N))));
  const colW = Math.min(120, W * 0.32);
  const leftX = colW;
  const rightX = W - colW;
  const H = N * rh + 8;
  const svg = s('svg', { width: W, height: H, class: 'lines-svg' });
  const focus = state.focus;
  const g = s('g', {});
  for (let i = 0; i < N; i++) {
    if (focus !== null && i !== focus) continue;
    for (let j = 0; j <= i; j++) {
      const w = M[i][j];
      if (!(w > (focus === null ? 0.08 : 0.01))) continue;
      g.append(
        s('line', {
          x1: rightX - 6,
          y1: 4 + i * rh + rh / 2,
          x2: leftX + 6,
          y2: 4 + j * rh + rh / 2,
          stroke: focus === null ? '#1c7ed6' : '#d9480f',
          'stroke-width': (0.5 + 5 * w).toFixed(2),
          'stroke-opacity': (focus === null ? 0.15 + 0.6 * w : 0.25 + 0.75 * w).toFixed(2),
        }),
      );
    }
  }
  svg.append(g);
  names.forEach((name, i) => {
    const short = name.length > 16 ? name.slice(0, 15) + '…' : name;
    const y = 4 + i * rh + rh / 2 + 4;
    const weight = focus !== null && i <= focus ? M[focus][i] : NaN;
    svg.append(
      s('text', {
        x: leftX,
        y,
        'text-anchor': 'end',
        class: 'key-label',
        'font-weight': weight > 0.2 ? 700 : 400,
        text: Number.isNaN(weight) ? short : `${short} ${fmt(weight, 2)}`,
      }),
    );
    const q = s('text', {
      x: rightX,
      y,
      class: 'query-label' + (focus === i ? ' focus' : ''),
      text: short,
    });
    q.addEventListener('click', () => actions.setFocus(focus === i ? null : i));
    svg.append(q);
  });
  const note = h('p', {
    class: 'muted small',
    text:
      focus === null
        ? 'Queries (right) to keys (left); only weights above 0.08 drawn. Click a query to see all its weights.'
        : `What #${focus} attends to (weights shown beside the keys).`,
  });
  const wrap = h('div', { class: 'lines-scroll' });
  wrap.append(svg);
  box.replaceChildren(note, wrap);
}

function renderHeadGrid(box: HTMLElement): void {
  const H = nHeadsOf(state);
  const narrow = widthOf(box, 200) < 520;
  const size = narrow ? 64 : 84;
  const fl = focusOrLast(state);
  const tiles: HTMLElement[] = [];
  const heads: Array<number | 'mean'> = [...Array.from({ length: H }, (_, i) => i), 'mean'];
  for (const hd of heads) {
    const M = attentionMatrix(state, state.layerIdx, hd);
    const canvas = miniMatrix(
      M.map((r) => r.map((v) => (Number.isNaN(v) ? NaN : v))),
      size,
      SEQUENTIAL,
      shade,
    );
    // The strongest key of the focused (or last) token, as a hint of what the head does.
    const row = M[fl] ?? [];
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j] > (row[best] ?? -1)) best = j;
    const toks = allTokens(state);
    const tile = h(
      'button',
      {
        type: 'button',
        class: 'head-tile' + (state.head === hd ? ' selected' : ''),
        title: `${headName(hd)}: #${fl} attends most to #${best} ${showToken(toks[best]?.text ?? '')}`,
        'data-head': String(hd),
      },
      canvas,
      h('span', { text: hd === 'mean' ? 'mean' : `h${hd}` }),
    );
    tile.addEventListener('click', () => actions.selectHead(state.layerIdx, hd));
    tiles.push(tile);
  }
  box.replaceChildren(...tiles);
}
