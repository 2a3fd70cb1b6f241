// A canvas heatmap with crisp cells, a label column, hover read-out and click-to-focus rows; drawn
// through one ImageData (one pixel per cell, scaled up), so thousands of columns stay fast.
import { type Lut } from './colors.js';
import { h, s } from './dom.js';

export interface HeatmapSpec {
  rows: ArrayLike<number>[];
  labels: string[];
  /** Column labels, drawn above the cells (every k-th when the cells are narrow). */
  colLabels?: string[];
  /** What the label column's header says above the row labels (with colLabels). */
  corner?: string;
  /** Maps a value to [0, 1] for the colour table; NaN draws the background. */
  scale: (v: number) => number;
  lut: Lut;
  /** Width available for the cells (they shrink to fit down to minCellW, then scroll). */
  width: number;
  cellH?: number;
  minCellW?: number;
  maxCellW?: number;
  focusRow?: number | null;
  /** Most rows shown before the block scrolls vertically. */
  maxHeight?: number;
  onHover?: (row: number, col: number, ev: MouseEvent) => void;
  onLeave?: () => void;
  onClickRow?: (row: number) => void;
}

export function canvasHeatmap(container: HTMLElement, spec: HeatmapSpec): HTMLCanvasElement {
  const nRows = spec.rows.length;
  const nCols = nRows ? Math.max(...spec.rows.map((r) => r.length)) : 0;
  const cellH = spec.cellH ?? 16;
  const labelW = 96;
  const avail = Math.max(60, spec.width - labelW - 8);
  const cellW = Math.max(
    spec.minCellW ?? 1,
    Math.min(spec.maxCellW ?? 14, Math.floor(avail / Math.max(1, nCols))),
  );
  const cssW = Math.max(1, nCols * cellW);
  const cssH = Math.max(1, nRows * cellH);

  const off = document.createElement('canvas');
  off.width = Math.max(1, nCols);
  off.height = Math.max(1, nRows);
  const octx = off.getContext('2d');
  if (octx && nRows && nCols) {
    const img = octx.createImageData(nCols, nRows);
    for (let r = 0; r < nRows; r++) {
      const row = spec.rows[r];
      for (let c = 0; c < nCols; c++) {
        const o = (r * nCols + c) * 4;
        const v = c < row.length ? row[c] : NaN;
        if (Number.isNaN(v)) {
          img.data[o] = img.data[o + 1] = img.data[o + 2] = 246;
        } else {
          const t = Math.max(0, Math.min(1, spec.scale(v)));
          const i = Math.round(t * 255) * 3;
          img.data[o] = spec.lut[i];
          img.data[o + 1] = spec.lut[i + 1];
          img.data[o + 2] = spec.lut[i + 2];
        }
        img.data[o + 3] = 255;
      }
    }
    octx.putImageData(img, 0, 0);
  }

  const dpr = window.devicePixelRatio || 1;
  const canvas = h('canvas', { class: 'heat-canvas' });
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  canvas.style.width = `${cssW}px`;
  canvas.style.height = `${cssH}px`;
  const ctx = canvas.getContext('2d');
  if (ctx) {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
    if (spec.focusRow !== null && spec.focusRow !== undefined && spec.focusRow < nRows) {
      ctx.strokeStyle = '#d9480f';
      ctx.lineWidth = 2 * dpr;
      ctx.strokeRect(dpr, spec.focusRow * cellH * dpr + dpr, canvas.width - 2 * dpr, cellH * dpr - 2 * dpr);
    }
  }

  const cellAt = (ev: MouseEvent): [number, number] | null => {
    const rect = canvas.getBoundingClientRect();
    const c = Math.floor((ev.clientX - rect.left) / cellW);
    const r = Math.floor((ev.clientY - rect.top) / cellH);
    return r >= 0 && r < nRows && c >= 0 && c < nCols ? [r, c] : null;
  };
  canvas.addEventListener('mousemove', (ev) => {
    const rc = cellAt(ev);
    if (rc) spec.onHover?.(rc[0], rc[1], ev);
  });
  canvas.addEventListener('mouseleave', () => spec.onLeave?.());
  canvas.addEventListener('click', (ev) => {
    const rc = cellAt(ev);
    if (rc) spec.onClickRow?.(rc[0]);
  });

  const labels = h('div', { class: 'heat-labels', style: `width:${labelW}px` });
  // Rows too thin for a label each get one every `step` rows.
  const step = Math.max(1, Math.ceil(12 / cellH));
  for (let i = 0; i < spec.labels.length; i += step) {
    const n = Math.min(step, spec.labels.length - i);
    const l = spec.labels[i];
    const focus =
      spec.focusRow !== null && spec.focusRow !== undefined && spec.focusRow >= i && spec.focusRow < i + n;
    const lab = h('div', {
      class: 'heat-label' + (focus ? ' focus' : ''),
      style: `height:${n * cellH}px;line-height:${Math.min(n * cellH, 16)}px;font-size:${Math.min(11, Math.max(8, n * cellH - 2))}px`,
      title: l,
      text: focus && step > 1 ? spec.labels[spec.focusRow as number] : l,
    });
    if (spec.onClickRow)
      lab.addEventListener('click', () => spec.onClickRow?.(focus ? (spec.focusRow as number) : i));
    labels.append(lab);
  }
  const scroller = h('div', { class: 'heat-scroll' });
  if (spec.colLabels) {
    const every = Math.max(1, Math.ceil(18 / cellW));
    const cols = h('div', { class: 'heat-cols', style: `width:${cssW}px` });
    spec.colLabels.forEach((t, c) => {
      if (c % every) return;
      cols.append(
        h('span', { class: 'heat-col', style: `left:${c * cellW}px;width:${cellW * every}px`, text: t }),
      );
    });
    scroller.append(cols);
    labels.prepend(h('div', { class: 'heat-corner', text: spec.corner ?? '' }));
  }
  scroller.append(canvas);
  const body = h(
    'div',
    { class: 'heat-body', style: `max-height:${spec.maxHeight ?? 340}px` },
    labels,
    scroller,
  );
  container.replaceChildren(body);
  return canvas;
}

/** Draws a small matrix (e.g. one head's pattern) into a canvas of the given CSS size. */
export function miniMatrix(
  rows: ArrayLike<number>[],
  size: number,
  lut: Lut,
  scale: (v: number) => number,
): HTMLCanvasElement {
  const n = rows.length;
  const m = n ? Math.max(...rows.map((r) => r.length)) : 1;
  const off = document.createElement('canvas');
  off.width = Math.max(1, m);
  off.height = Math.max(1, n);
  const octx = off.getContext('2d');
  if (octx && n) {
    const img = octx.createImageData(m, n);
    for (let r = 0; r < n; r++)
      for (let c = 0; c < m; c++) {
        const v = c < rows[r].length ? rows[r][c] : NaN;
        const o = (r * m + c) * 4;
        if (Number.isNaN(v) || c > r + (m - n)) {
          img.data[o] = img.data[o + 1] = img.data[o + 2] = 246;
        } else {
          const i = Math.round(Math.max(0, Math.min(1, scale(v))) * 255) * 3;
          img.data[o] = lut[i];
          img.data[o + 1] = lut[i + 1];
          img.data[o + 2] = lut[i + 2];
        }
        img.data[o + 3] = 255;
      }
    octx.putImageData(img, 0, 0);
  }
  const dpr = window.devicePixelRatio || 1;
  const canvas = h('canvas', { class: 'mini-canvas' });
  canvas.width = Math.round(size * dpr);
  canvas.height = Math.round(size * dpr);
  canvas.style.width = `${size}px`;
  canvas.style.height = `${size}px`;
  const ctx = canvas.getContext('2d');
  if (ctx) {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  }
  return canvas;
}

export interface SvgMatrixSpec {
  rowLabels: string[];
  colLabels: string[];
  /** A cell's colour, or null for a masked cell (e.g. a later token attention cannot see). */
  fill: (i: number, j: number) => string | null;
  /** Width available; the cells shrink to fit it (and maxHeight), down to minCell, before anything scrolls. */
  width: number;
  maxHeight: number;
  minCell: number;
  svgClass: string;
  rowClass?: (i: number) => string;
  colClass?: (j: number) => string;
  focusRow?: number | null;
  focusCol?: number | null;
  onHover: (i: number, j: number, ev: MouseEvent) => void;
  onLeave: () => void;
  onClickCell: (i: number, j: number) => void;
  onClickRow?: (i: number) => void;
}

/** Monospace glyph width per pixel of font size (the labels' font). */
const CHAR_W = 0.62;
const short = (t: string) => (t.length > 14 ? t.slice(0, 13) + '…' : t);

/**
 * A matrix of SVG cells (one rect each) with row labels on the left and column labels leaning up and to
 * the right; sized so every label and cell is inside the drawing (the box around it never clips them).
 */
export function svgMatrix(box: HTMLElement, spec: SvgMatrixSpec): SVGSVGElement {
  const R = spec.rowLabels.length;
  const C = spec.colLabels.length;
  const rows = spec.rowLabels.map(short);
  const cols = spec.colLabels.map(short);
  const longest = (xs: string[]) => xs.reduce((m, x) => Math.max(m, x.length), 1);
  // A first guess at the font, for the room the labels take; then the cell size; then the real font.
  const layout = (font: number) => {
    const labelW = Math.min(140, Math.ceil(longest(rows) * font * CHAR_W) + 10);
    const colLen = longest(cols) * font * CHAR_W;
    return {
      labelW,
      top: Math.ceil(colLen * Math.sin(Math.PI / 3) + font) + 4,
      right: Math.ceil(colLen * Math.cos(Math.PI / 3) + font) + 4,
    };
  };
  let room = layout(12);
  let cs = Math.floor((spec.width - room.labelW - room.right - 4) / Math.max(1, C));
  cs = Math.min(cs, Math.floor((spec.maxHeight - room.top - 6) / Math.max(1, R)));
  cs = Math.max(spec.minCell, Math.min(26, cs));
  const colLabels = cs >= 11;
  const fontSize = Math.min(12, Math.max(8, cs - 2));
  room = layout(fontSize);
  const top = colLabels ? room.top : 6;
  const right = colLabels ? room.right : 4;
  const W = room.labelW + C * cs + right;
  const H = top + R * cs + 4;
  const x0 = room.labelW;
  const svg = s('svg', { width: W, height: H, class: spec.svgClass, 'data-cells': R * C });
  rows.forEach((text, i) => {
    const lab = s('text', {
      x: x0 - 4,
      y: top + i * cs + cs / 2 + fontSize / 3,
      'text-anchor': 'end',
      'font-size': fontSize,
      class: 'row-label' + (spec.focusRow === i ? ' focus' : '') + (spec.rowClass?.(i) ?? ''),
      text,
    });
    if (spec.onClickRow) lab.addEventListener('click', () => spec.onClickRow?.(i));
    svg.append(lab);
  });
  if (colLabels)
    cols.forEach((text, j) => {
      const x = x0 + j * cs + cs / 2 + fontSize / 3;
      svg.append(
        s('text', {
          x,
          y: top - 4,
          transform: `rotate(-60 ${x} ${top - 4})`,
          'font-size': fontSize,
          class: 'col-label' + (spec.focusCol === j ? ' focus' : '') + (spec.colClass?.(j) ?? ''),
          text,
        }),
      );
    });
  const cells = s('g', { class: 'cells' });
  const gap = cs > 8 ? 1 : 0;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const fill = spec.fill(i, j);
      cells.append(
        s('rect', {
          x: x0 + j * cs,
          y: top + i * cs,
          width: cs - gap,
          height: cs - gap,
          class: fill === null ? 'cell masked' : 'cell',
          fill: fill ?? '#f4f5f7',
          'data-i': i,
          'data-j': j,
        }),
      );
    }
  }
  const at = (ev: Event): [number, number] | null => {
    const t = ev.target as SVGElement;
    return t.dataset.i === undefined ? null : [Number(t.dataset.i), Number(t.dataset.j)];
  };
  cells.addEventListener('mousemove', (ev) => {
    const ij = at(ev);
    if (ij) spec.onHover(ij[0], ij[1], ev);
  });
  cells.addEventListener('mouseleave', spec.onLeave);
  cells.addEventListener('click', (ev) => {
    const ij = at(ev);
    if (ij) spec.onClickCell(ij[0], ij[1]);
  });
  svg.append(cells);
  if (spec.focusRow !== null && spec.focusRow !== undefined && spec.focusRow < R)
    svg.append(
      s('rect', {
        x: x0 - 1,
        y: top + spec.focusRow * cs - 1,
        width: C * cs + 1,
        height: cs + 1,
        class: 'focus-outline',
      }),
    );
  if (spec.focusCol !== null && spec.focusCol !== undefined && spec.focusCol < C)
    svg.append(
      s('rect', {
        x: x0 + spec.focusCol * cs - 1,
        y: top - 1,
        width: cs + 1,
        height: R * cs + 1,
        class: 'focus-outline',
      }),
    );
  box.replaceChildren(h('div', { class: 'att-scroll' }, svg));
  return svg;
}
