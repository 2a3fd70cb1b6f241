// Small SVG charts drawn with d3 scales and axes: lines over layers, grouped bars, a scatter.
import { axisBottom, axisLeft, extent, max, min, scaleBand, scaleLinear, select } from 'd3';
import { fmt } from './dom.js';

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
}

/** Labelled points, equal scale on both axes. */
export function scatter(
  container: HTMLElement,
  points: ScatterPoint[],
  f: Frame & { caption?: string },
): void {
  container.replaceChildren();
  const { g, w, h } = svgFrame(container, { ...f, margin: { top: 12, right: 16, bottom: 12, left: 16 } });
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
  const node = g
    .selectAll(null)
    .data(points)
    .enter()
    .append('g')
    .attr('class', (p) => `pt pt-${p.kind}`)
    .attr('transform', (p) => `translate(${px(p.x)},${py(p.y)})`);
  node
    .append('circle')
    .attr('r', 4.5)
    .attr('fill', (p) => p.color);
  node
    .append('text')
    .attr('x', 7)
    .attr('y', 4)
    .text((p) => p.label);
  node.append('title').text((p) => `${p.label} (${p.kind})  PC1 ${fmt(p.x)}, PC2 ${fmt(p.y)}`);
  if (f.caption) {
    const p = document.createElement('p');
    p.className = 'muted small caption';
    p.textContent = f.caption;
    container.append(p);
  }
}
