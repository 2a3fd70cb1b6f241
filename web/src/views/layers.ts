// 6 — per-layer charts for the focused token: residual norm, what attention and the FFN add, FFN
// activation statistics, and each head's output norm.
import { scaleLinear } from 'd3';
import { colorLegend, groupedBars, lineChart } from '../charts.js';
import { SEQUENTIAL, SERIES } from '../colors.js';
import { byId, fmt, hideTip, showTip, showToken, widthOf } from '../dom.js';
import { canvasHeatmap } from '../heatmap.js';
import { focusOrLast, state } from '../state.js';

export function renderLayers(): void {
  const tr = state.trace;
  if (!tr) return;
  const T = tr.tokens.length;
  const mean = byId<HTMLInputElement>('layers-mean').checked;
  const t = Math.min(focusOrLast(state), T - 1);
  byId('layers-target').textContent = mean
    ? 'average prompt token'
    : `token #${t} “${showToken(tr.tokens[t].text)}”`;
  const pick = (xs: number[]) => (mean ? xs.reduce((a, b) => a + b, 0) / (xs.length || 1) : xs[t]);
  const labels = tr.layers.map((l) => `L${l.layer}`);
  const resid = byId('chart-resid');
  const width = Math.max(220, Math.min(420, widthOf(resid, 220)));
  const height = 170;

  lineChart(
    resid,
    labels,
    [
      {
        name: 'entering',
        values: tr.layers.map((l) => pick(l.residualInNorms)),
        color: '#868e96',
        dashed: true,
      },
      { name: 'leaving', values: tr.layers.map((l) => pick(l.residualOutNorms)), color: SERIES[0] },
    ],
    { width, height },
  );
  groupedBars(
    byId('chart-added'),
    labels,
    [
      { name: 'attention', values: tr.layers.map((l) => pick(l.attentionAddedNorms)), color: SERIES[0] },
      { name: 'FFN', values: tr.layers.map((l) => pick(l.ffnAddedNorms)), color: SERIES[1] },
    ],
    { width, height },
  );
  const stat = (k: 'positive' | 'std' | 'max') =>
    tr.layers.map((l) => pick(l.ffnActivations.map((s) => s[k])));
  lineChart(
    byId('chart-ffn'),
    labels,
    [
      { name: 'fraction > 0', values: stat('positive'), color: SERIES[2] },
      { name: 'std', values: stat('std'), color: SERIES[3] },
    ],
    { width, height },
  );
  const headsBox = byId('chart-heads');
  const rows = tr.layers.map((l) => {
    const perTok = l.headNorms;
    if (!perTok.length) return [];
    const H = perTok[0].length;
    return Array.from({ length: H }, (_, hd) => pick(perTok.map((r) => r[hd])));
  });
  let m = 0;
  for (const r of rows) for (const v of r) m = Math.max(m, v);
  const H = rows[0]?.length ?? 0;
  canvasHeatmap(headsBox, {
    rows,
    labels,
    colLabels: Array.from({ length: H }, (_, i) => `h${i}`),
    corner: 'layer ↓  head →',
    lut: SEQUENTIAL,
    scale: (v) => v / (m || 1),
    width,
    cellH: 18,
    minCellW: 8,
    maxCellW: 30,
    maxHeight: 220,
    onHover: (r, c, ev) => showTip(ev, `${labels[r]} head ${c}: ‖output‖ = ${fmt(rows[r][c], 3)}`),
    onLeave: hideTip,
  });
  headsBox.append(
    colorLegend({
      lut: SEQUENTIAL,
      scale: scaleLinear()
        .domain([0, m || 1])
        .range([0, 1]),
      title: '‖head output‖: how much each head writes',
      width: Math.min(200, width - 40),
    }),
  );
}
