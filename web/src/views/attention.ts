// 4 — attention: one head's query×key heatmap (SVG cells up to a few hundred tokens, then canvas),
// lines from each token to what it attends to, and every head of the layer as a small tile.
import { actions } from '../actions.js';
import { SEQUENTIAL, lutCss } from '../colors.js';
import { byId, fmt, h, hideTip, s, showTip, showToken, widthOf } from '../dom.js';
import { canvasHeatmap, miniMatrix } from '../heatmap.js';
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
      ? `#${i} cannot see #${j} (later token)`
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
  const N = M.length;
  const avail = widthOf(box, 240);
  const labelW = Math.min(110, Math.max(60, avail * 0.22));
  const cs = Math.max(6, Math.min(26, Math.floor((avail - labelW - 8) / Math.max(1, N))));
  const colLabels = cs >= 11;
  const top = colLabels ? 74 : 6;
  const W = labelW + N * cs + 4;
  const H = top + N * cs + 4;
  const svg = s('svg', { width: W, height: H, class: 'att-svg', 'data-cells': N * N });
  const fontSize = Math.min(12, Math.max(8, cs - 2));
  names.forEach((name, i) => {
    const short = name.length > 14 ? name.slice(0, 13) + '…' : name;
    const lab = s('text', {
      x: labelW - 4,
      y: top + i * cs + cs / 2 + fontSize / 3,
      'text-anchor': 'end',
      'font-size': fontSize,
      class: 'row-label' + (state.focus === i ? ' focus' : ''),
      text: short,
    });
    lab.addEventListener('click', () => actions.setFocus(state.focus === i ? null : i));
    svg.append(lab);
    if (colLabels) {
      const x = labelW + i * cs + cs / 2 + fontSize / 3;
      svg.append(
        s('text', {
          x,
          y: top - 4,
          transform: `rotate(-60 ${x} ${top - 4})`,
          'font-size': fontSize,
          class: 'col-label',
          text: short,
        }),
      );
    }
  });
  const cells = s('g', { class: 'cells' });
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      const v = M[i][j];
      const masked = Number.isNaN(v);
      const r = s('rect', {
        x: labelW + j * cs,
        y: top + i * cs,
        width: cs - (cs > 8 ? 1 : 0),
        height: cs - (cs > 8 ? 1 : 0),
        class: masked ? 'cell masked' : 'cell',
        fill: masked ? '#f4f5f7' : lutCss(SEQUENTIAL, shade(v)),
        'data-i': i,
        'data-j': j,
      });
      cells.append(r);
    }
  }
  cells.addEventListener('mousemove', (ev) => {
    const t = ev.target as SVGElement;
    if (t.dataset.i !== undefined) tip(Number(t.dataset.i), Number(t.dataset.j), ev);
  });
  cells.addEventListener('mouseleave', hideTip);
  cells.addEventListener('click', (ev) => {
    const t = ev.target as SVGElement;
    if (t.dataset.i !== undefined) actions.setFocus(Number(t.dataset.i));
  });
  svg.append(cells);
  if (state.focus !== null && state.focus < N) {
    svg.append(
      s('rect', {
        x: labelW - 1,
        y: top + state.focus * cs - 1,
        width: N * cs + 1,
        height: cs + 1,
        class: 'focus-outline',
      }),
    );
  }
  const wrap = h('div', { class: 'att-scroll' });
  wrap.append(svg);
  box.replaceChildren(wrap);
}

function renderLines(box: HTMLElement, M: number[][], names: string[]): void {
  const N = M.length;
  const W = Math.max(260, Math.min(520, widthOf(box, 260)));
  const rh = 18;
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
