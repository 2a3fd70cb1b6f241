// Small SVG charts drawn with d3 scales and axes: lines over layers, grouped bars, a scatter.
import {
  axisBottom,
  axisLeft,
  extent,
  max,
  min,
  scaleBand,
  scaleLinear,
  select,
  type ScaleContinuousNumeric,
} from 'd3';
import { type Lut, lutCss } from './colors.js';
import { fmt, h } from './dom.js';

export interface Series {
  name: string;
  values: number[];
  color: string;
  dashed?: boolean;
}

interface Frame {
  width: number;
  height: number;
  margin?: { top: number; right: number; bottom: number; left: number };
}

function svgFrame(container: HTMLElement, f: Frame) {
  const m = f.margin ?? { top: 10, right: 12, bottom: 34, left: 44 };
  const svg = select(container)
    .append('svg')
    .attr('viewBox', `0 0 ${f.width} ${f.height}`)
    .attr('width', f.width)
    .attr('height', f.height)
    .attr('role', 'img');
  const g = svg.append('g').attr('transform', `translate(${m.left},${m.top})`);
  return { svg, g, w: f.width - m.left - m.right, h: f.height - m.top - m.bottom, m };
}

function legend(container: HTMLElement, series: Series[]): void {
  const div = document.createElement('div');
  div.className = 'legend';
  for (const s of series) {
    const item = document.createElement('span');
    item.innerHTML = `<i style="background:${s.color}"></i>`;
    item.append(s.name);
    div.append(item);
  }
  container.append(div);
}

/** Lines over x = labels (e.g. layers). */
export function lineChart(
  container: HTMLElement,
  labels: string[],
  series: Series[],
  f: Frame & { yDomain?: [number, number]; yLabel?: string; onHover?: (i: number) => string },
): void {
  container.replaceChildren();
  const { g, w, h } = svgFrame(container, f);
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const lo = f.yDomain?.[0] ?? Math.min(0, min(all) ?? 0);
  const hi = f.yDomain?.[1] ?? (max(all) ?? 1) * 1.05;
  const x = scaleLinear()
    .domain([0, Math.max(1, labels.length - 1)])
    .range([0, w]);
  const y = scaleLinear()
    .domain([lo, hi === lo ? lo + 1 : hi])
    .nice()
    .range([h, 0]);
  const every = Math.ceil(labels.length / Math.max(2, Math.floor(w / 36)));
  g.append('g')
    .attr('class', 'axis')
    .attr('transform', `translate(0,${h})`)
    .call(
      axisBottom(x)
        .tickValues(labels.map((_, i) => i).filter((i) => i % every === 0))
        .tickFormat((i) => labels[Number(i)] ?? ''),
    );
  g.append('g')
    .attr('class', 'axis')
    .call(
      axisLeft(y)
        .ticks(4)
        .tickFormat((v) => fmt(Number(v), 2)),
    );
  for (const s of series) {
    const pts = s.values.map((v, i) => [x(i), y(v)] as const).filter(([, yy]) => Number.isFinite(yy));
    g.append('path')
      .attr('fill', 'none')
      .attr('stroke', s.color)
      .attr('stroke-width', 2)
      .attr('stroke-dasharray', s.dashed ? '4 3' : null)
      .attr('d', pts.map(([a, b], i) => `${i ? 'L' : 'M'}${a},${b}`).join(''));
    g.selectAll(null)
      .data(pts)
      .enter()
      .append('circle')
      .attr('cx', (d) => d[0])
      .attr('cy', (d) => d[1])
      .attr('r', 3)
      .attr('fill', s.color)
      .append('title')
      .text((_, i) => `${s.name} @ ${labels[i]}: ${fmt(s.values[i], 4)}`);
  }
  if (series.length > 1) legend(container, series);
}

/** Grouped bars over x = labels. */
export function groupedBars(container: HTMLElement, labels: string[], series: Series[], f: Frame): void {
  container.replaceChildren();
  const { g, w, h } = svgFrame(container, f);
  const x0 = scaleBand().domain(labels).range([0, w]).paddingInner(0.2);
  const x1 = scaleBand()
    .domain(series.map((s) => s.name))
    .range([0, x0.bandwidth()])
    .padding(0.05);
  const hi = max(series.flatMap((s) => s.values)) ?? 1;
  const y = scaleLinear()
    .domain([0, hi || 1])
    .nice()
    .range([h, 0]);
  const every = Math.ceil(labels.length / Math.max(2, Math.floor(w / 36)));
  g.append('g')
    .attr('class', 'axis')
    .attr('transform', `translate(0,${h})`)
    .call(axisBottom(x0).tickValues(labels.filter((_, i) => i % every === 0)));
  g.append('g')
    .attr('class', 'axis')
    .call(
      axisLeft(y)
        .ticks(4)
        .tickFormat((v) => fmt(Number(v), 2)),
    );
  for (const s of series) {
    g.selectAll(null)
      .data(s.values)
      .enter()
      .append('rect')
      .attr('x', (_, i) => (x0(labels[i]) ?? 0) + (x1(s.name) ?? 0))
      .attr('y', (v) => y(v))
      .attr('width', x1.bandwidth())
      .attr('height', (v) => Math.max(0, h - y(v)))
      .attr('fill', s.color)
      .append('title')
      .text((v, i) => `${s.name} @ ${labels[i]}: ${fmt(v, 4)}`);
  }
  legend(container, series);
}

export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
  color: string;
  kind: string;
  /** Drawn as a ring (e.g. a word averaged over several tokens). */
  ring?: boolean;
  title?: string;
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

const overlaps = (a: Box, b: Box) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * Places each label near its point where it overlaps no other label and no point: the first free spot
 * on rings of growing radius (a leader line joins the far ones); a label with no free spot is hidden
 * (its point keeps the name as a tooltip). Returns how many were hidden.
 */
function placeLabels(nodes: SVGGElement[], at: Array<[number, number]>, order: number[], area: Box): number {
  const pad = 2;
  const placed: Box[] = at.map(([x, y]) => ({ x: x - 5, y: y - 5, w: 10, h: 10 }));
  const dirs: Array<[number, number]> = [
    [1, 0],
    [-1, 0],
    [0.7, -0.7],
    [0.7, 0.7],
    [-0.7, -0.7],
    [-0.7, 0.7],
    [0, -1],
    [0, 1],
  ];
  let hidden = 0;
  for (const i of order) {
    const text = nodes[i].querySelector('text');
    if (!text) continue;
    const w = (text.getComputedTextLength() || text.textContent!.length * 7) + 2 * pad;
    const h = 14 + 2 * pad;
    const [px, py] = at[i];
    let best: { box: Box; r: number } | null = null;
    for (const r of [7, 14, 24, 36, 50]) {
      for (const [dx, dy] of dirs) {
        // The box touches the ring at r in direction (dx, dy).
        const cx = px + dx * r + (dx > 0.1 ? w / 2 : dx < -0.1 ? -w / 2 : 0);
        const cy = py + dy * r + (dy > 0.1 ? h / 2 : dy < -0.1 ? -h / 2 : 0);
        const box = { x: cx - w / 2, y: cy - h / 2, w, h };
        if (box.x < area.x || box.y < area.y || box.x + w > area.x + area.w || box.y + h > area.y + area.h)
          continue;
        if (placed.some((q) => overlaps(q, box))) continue;
        best = { box, r };
        break;
      }
      if (best) break;
    }
    if (!best) {
      text.setAttribute('display', 'none');
      nodes[i].classList.add('label-hidden');
      hidden++;
      continue;
    }
    placed.push(best.box);
    const { box } = best;
    text.setAttribute('x', String(box.x + pad - px));
    text.setAttribute('y', String(box.y + pad + 11 - py));
    if (best.r > 7) {
      // A leader line from the point to the nearest point of the label's box.
      const nx = Math.max(box.x, Math.min(px, box.x + box.w)) - px;
      const ny = Math.max(box.y, Math.min(py, box.y + box.h)) - py;
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      line.setAttribute('class', 'leader');
      line.setAttribute('x2', String(nx));
      line.setAttribute('y2', String(ny));
      nodes[i].prepend(line);
    }
  }
  return hidden;
}

/** An arrow from one scatter point to another (e.g. an analogy's a → b). */
export interface ScatterArrow {
  from: number;
  to: number;
  color: string;
  title?: string;
}

let markers = 0;

/** Labelled points, equal scale on both axes; labels kept apart (see placeLabels); arrows between points. */
export function scatter(
  container: HTMLElement,
  points: ScatterPoint[],
  f: Frame & { caption?: string; first?: string; arrows?: ScatterArrow[] },
): void {
  container.replaceChildren();
  const m = { top: 12, right: 16, bottom: 12, left: 16 };
  const { g, w, h } = svgFrame(container, { ...f, margin: m });
  const ex = extent(points, (p) => p.x) as [number, number];
  const ey = extent(points, (p) => p.y) as [number, number];
  const span = Math.max((ex[1] ?? 1) - (ex[0] ?? 0), (ey[1] ?? 1) - (ey[0] ?? 0)) || 1;
  const cx = ((ex[0] ?? 0) + (ex[1] ?? 0)) / 2;
  const cy = ((ey[0] ?? 0) + (ey[1] ?? 0)) / 2;
  const k = Math.min(w, h) / (span * 1.15);
  const px = (v: number) => w / 2 + (v - cx) * k;
  const py = (v: number) => h / 2 - (v - cy) * k;
  g.append('line').attr('x1', 0).attr('x2', w).attr('y1', py(0)).attr('y2', py(0)).attr('class', 'zero');
  g.append('line').attr('y1', 0).attr('y2', h).attr('x1', px(0)).attr('x2', px(0)).attr('class', 'zero');
  for (const a of f.arrows ?? []) {
    const id = `arrowhead-${++markers}`;
    g.append('defs')
      .append('marker')
      .attr('id', id)
      .attr('viewBox', '0 0 10 10')
      .attr('refX', 9)
      .attr('refY', 5)
      .attr('markerWidth', 7)
      .attr('markerHeight', 7)
      .attr('orient', 'auto-start-reverse')
      .append('path')
      .attr('d', 'M0,0L10,5L0,10z')
      .attr('fill', a.color);
    const [x1, y1, x2, y2] = [
      px(points[a.from].x),
      py(points[a.from].y),
      px(points[a.to].x),
      py(points[a.to].y),
    ];
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const cut = Math.min(7, len / 3); // stop short of the points' circles
    const [ux, uy] = [(x2 - x1) / len, (y2 - y1) / len];
    g.append('line')
      .attr('class', 'arrow')
      .attr('x1', x1 + ux * cut)
      .attr('y1', y1 + uy * cut)
      .attr('x2', x2 - ux * cut)
      .attr('y2', y2 - uy * cut)
      .attr('stroke', a.color)
      .attr('marker-end', `url(#${id})`)
      .append('title')
      .text(a.title ?? `${points[a.from].label} → ${points[a.to].label}`);
  }
  const node = g
    .selectAll(null)
    .data(points)
    .enter()
    .append('g')
    .attr('class', (p) => `pt pt-${p.kind}${p.ring ? ' pt-ring' : ''}`)
    .attr('transform', (p) => `translate(${px(p.x)},${py(p.y)})`);
  node
    .append('circle')
    .attr('r', 4.5)
    .attr('fill', (p) => (p.ring ? '#fff' : p.color))
    .attr('stroke', (p) => p.color)
    .attr('stroke-width', (p) => (p.ring ? 2 : 0));
  node
    .append('text')
    .attr('x', 7)
    .attr('y', 4)
    .text((p) => p.label);
  node.append('title').text((p) => `${p.title ?? p.label} (${p.kind})  PC1 ${fmt(p.x)}, PC2 ${fmt(p.y)}`);
  // Labels of the first kind are placed first (e.g. the words the user added).
  const order = points
    .map((_, i) => i)
    .sort((a, b) => +(points[b].kind === f.first) - +(points[a].kind === f.first));
  const hidden = placeLabels(
    node.nodes(),
    points.map((p) => [px(p.x), py(p.y)]),
    order,
    { x: -m.left + 2, y: -m.top + 2, w: w + m.left + m.right - 4, h: h + m.top + m.bottom - 4 },
  );
  if (f.caption || hidden) {
    const p = document.createElement('p');
    p.className = 'muted small caption';
    p.textContent =
      (f.caption ?? '') +
      (hidden
        ? ` · ${hidden} label${hidden === 1 ? '' : 's'} left out where points crowd (hover a point for its name)`
        : '');
    container.append(p);
  }
}

export interface ColorLegendSpec {
  /** The colour table the cells are painted from. */
  lut: Lut;
  /** Value → position in the table, [0, 1] (a d3 scale: its domain gives the ticks). */
  scale: ScaleContinuousNumeric<number, number>;
  /** What the colour means, e.g. "attention weight". */
  title: string;
  /** A note after the bar (e.g. what grey cells are). */
  note?: string;
  width?: number;
  ticks?: number;
}

let gradients = 0;

/** A colour bar with an axis under it (d3), for a heatmap: which colour is which value. */
export function colorLegend(spec: ColorLegendSpec): HTMLElement {
  const w = spec.width ?? 200;
  const pad = 12;
  const wrap = h('div', { class: 'color-legend', 'data-title': spec.title });
  wrap.append(h('span', { class: 'color-legend-title', text: spec.title }));
  const svg = select(wrap)
    .append('svg')
    .attr('width', w + 2 * pad)
    .attr('height', 30)
    .attr('role', 'img')
    .attr('aria-label', `colour scale: ${spec.title}`);
  const id = `legend-grad-${++gradients}`;
  const [t0, t1] = spec.scale.range();
  const grad = svg.append('defs').append('linearGradient').attr('id', id);
  for (let i = 0; i <= 16; i++) {
    const t = t0 + ((t1 - t0) * i) / 16;
    grad
      .append('stop')
      .attr('offset', `${(i / 16) * 100}%`)
      .attr('stop-color', lutCss(spec.lut, t));
  }
  const g = svg.append('g').attr('transform', `translate(${pad},2)`);
  g.append('rect').attr('width', w).attr('height', 10).attr('fill', `url(#${id})`).attr('stroke', '#ced4da');
  const axisScale = spec.scale.copy().range([0, w]);
  g.append('g')
    .attr('class', 'axis')
    .attr('transform', 'translate(0,10)')
    .call(
      axisBottom(axisScale)
        .ticks(spec.ticks ?? 4)
        .tickSize(4)
        .tickFormat((v) => fmt(Number(v), 2)),
    );
  if (spec.note) wrap.append(h('span', { class: 'color-legend-note', text: spec.note }));
  return wrap;
}
