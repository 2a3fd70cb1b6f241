// 2 — embeddings (heatmap rows + a PCA of word vectors) and 3 — positional encoding.
import { actions } from '../actions.js';
import { scaleLinear } from 'd3';
import { colorLegend, lineChart, scatter, type ScatterPoint } from '../charts.js';
import { CYCLIC, DIVERGING, SERIES } from '../colors.js';
import { byId, fmt, h, hideTip, showTip, showToken, widthOf } from '../dom.js';
import { canvasHeatmap } from '../heatmap.js';
import { cosine, pca2 } from '../pca.js';
import { focusOrLast, state } from '../state.js';
import type { TraceEmbeddings } from '../../../src/trace/schema.js';

function maxAbs(rows: number[][]): number {
  let m = 0;
  for (const r of rows) for (const v of r) if (Math.abs(v) > m) m = Math.abs(v);
  return m || 1;
}

function labels(): string[] {
  return (state.trace?.tokens ?? []).map((t, i) => `${i} ${showToken(t.text)}`);
}

export function renderEmbeddings(): void {
  const tr = state.trace;
  if (!tr) return;
  byId('emb-dim').textContent = String(tr.model.dim);
  const box = byId('emb-heatmap');
  const readout = byId('emb-readout');
  const rows = tr.embeddings.token;
  if (!rows) {
    box.textContent =
      'This trace has no vectors (recorded with vectors: "summary"); norms: ' +
      tr.embeddings.tokenNorms.map((n) => fmt(n)).join(', ');
    return;
  }
  const m = maxAbs(rows);
  canvasHeatmap(box, {
    rows,
    labels: labels(),
    lut: DIVERGING,
    scale: (v) => (v / m + 1) / 2,
    width: widthOf(box),
    focusRow: state.focus !== null && state.focus < rows.length ? state.focus : null,
    onHover: (r, c, ev) => {
      const text = `${showToken(tr.tokens[r].text)} (id ${tr.tokens[r].id}) · dim ${c} = ${fmt(rows[r][c], 4)}`;
      readout.textContent = `${text} · ‖e‖ = ${fmt(tr.embeddings.tokenNorms[r])}`;
      showTip(ev, text);
    },
    onLeave: hideTip,
    onClickRow: (r) => actions.setFocus(r),
  });
  box.append(divergingLegend(m, 'value of one coordinate (blue < 0 < red)'));
}

/** The legend of a heatmap painted on the diverging scale, symmetric around 0. */
function divergingLegend(m: number, title: string): HTMLElement {
  return colorLegend({
    lut: DIVERGING,
    scale: scaleLinear().domain([-m, m]).range([0, 1]),
    title,
  });
}

export function renderPca(): void {
  const tr = state.trace;
  const box = byId('pca');
  if (!tr) return;
  const vecs: number[][] = [];
  const pts: Omit<ScatterPoint, 'x' | 'y'>[] = [];
  const seen = new Set<number>();
  tr.embeddings.token?.forEach((v, i) => {
    const t = tr.tokens[i];
    if (seen.has(t.id)) return;
    seen.add(t.id);
    vecs.push(v);
    pts.push({ label: showToken(t.text), color: '#1c7ed6', kind: 'prompt' });
  });
  const averaged: string[] = [];
  for (const w of state.words) {
    vecs.push(w.vector);
    const split = w.tokens.length > 1;
    const pieces = w.tokens.map((t) => showToken(t.text)).join(' + ');
    if (split) averaged.push(`${w.word} = mean of ${w.tokens.length} tokens (${pieces})`);
    pts.push({
      label: w.word,
      color: '#e8590c',
      kind: 'word',
      ring: split,
      title: split
        ? `${w.word}: the mean of its ${w.tokens.length} tokens ${pieces}`
        : `${w.word} (${pieces})`,
    });
  }
  if (vecs.length < 3) {
    box.textContent = 'Add a few words, or pick a set of them above, to see where they lie.';
    return;
  }
  const p = pca2(vecs);
  const width = widthOf(box);
  const caption =
    `PC1 ${(p.explained[0] * 100).toFixed(0)}% · PC2 ${(p.explained[1] * 100).toFixed(0)}% of the variance · ` +
    'blue: the prompt’s tokens, orange: words you added · ␣ is a space the token starts with' +
    (averaged.length
      ? ` · a ring is a word the tokenizer splits: its point is the mean of its tokens’ vectors: ${averaged.join('; ')}`
      : '');
  scatter(
    box,
    pts.map((q, i) => ({ ...q, x: p.points[i][0], y: p.points[i][1] })),
    { width, height: Math.min(420, Math.max(340, width * 0.55)), caption, first: 'word' },
  );
}

export function renderPositions(): void {
  const tr = state.trace;
  if (!tr) return;
  const box = byId('pos-heatmap');
  const readout = byId('pos-readout');
  const explain = byId('pos-explain');
  // an encoder-decoder: the source's positions (the decoder's start token has only position 0)
  const e = tr.source?.embeddings ?? tr.embeddings;
  if (tr.model.positional === 'learned' || tr.model.positional === 'sinusoidal') {
    explain.textContent =
      (tr.model.positional === 'learned'
        ? 'Learned positions: a second table, one vector per position, added to the token embedding before the first block.'
        : 'Sinusoidal positions (the original Transformer): a fixed table, computed rather than learned. Position p ' +
          'holds sin(p / 10000^(2i/d)) in its first half and the matching cosines in its second: fast waves in the ' +
          'first columns, slow ones in the last. It is added to the token embedding before the first block.') +
      (tr.source ? ' Shown for the source tokens the encoder reads.' : '');
    const rows = e.positional;
    if (!rows) {
      box.textContent = `Positional vector norms: ${(e.positionalNorms ?? []).map((n) => fmt(n)).join(', ')}`;
      return;
    }
    const m = maxAbs(rows);
    canvasHeatmap(box, {
      rows,
      labels: rows.map((_, i) => `pos ${i}`),
      lut: DIVERGING,
      scale: (v) => (v / m + 1) / 2,
      width: widthOf(box),
      focusRow: state.focus,
      onHover: (r, c, ev) => {
        const text = `position ${r} · dim ${c} = ${fmt(rows[r][c], 4)}`;
        readout.textContent = `${text} · ‖p‖ = ${fmt(e.positionalNorms?.[r] ?? NaN)}`;
        showTip(ev, text);
      },
      onLeave: hideTip,
      onClickRow: (r) => actions.setFocus(r),
    });
    box.append(divergingLegend(m, 'value of one coordinate (blue < 0 < red)'));
    // Learned positions: how alike the focused position's vector is to every other one.
    const f = Math.min(focusOrLast(state), rows.length - 1);
    byId('pos-chart-title').textContent = `cosine similarity of position ${f}'s vector to each position`;
    lineChart(
      byId('pos-chart'),
      rows.map((_, i) => String(i)),
      [{ name: `cos(p${f}, p)`, values: rows.map((r) => cosine(r, rows[f])), color: SERIES[0] }],
      {
        width: Math.min(760, widthOf(byId('pos-chart'))),
        height: 180,
        yDomain: [Math.min(0, ...rows.map((r) => cosine(r, rows[f]))), 1],
      },
    );
  } else if (e.rope) {
    const rope = e.rope;
    explain.replaceChildren(
      h('dfn', { 'data-term': 'RoPE', text: 'Rotary positions (RoPE)' }),
      `: nothing is added to the vector. Inside attention the query and key vectors are cut into pairs of numbers ` +
        `(${rope.style} pairs), and each pair is turned like a clock hand by an angle that grows with the position: ` +
        `pair i turns by position × θ^(−2i/d) radians. `,
      h('dfn', { 'data-term': 'RoPE θ', text: `θ (theta, here ${rope.theta})` }),
      ` is the base of those speeds: the larger θ, the slower the slow pairs turn, and the longer the distances they ` +
        `can tell apart. Fast pairs (left columns) wrap around quickly, slow ones (right) barely turn, so the ` +
        `product of a query and a key depends on how far apart the two tokens are. Colour = rotation angle.`,
      ...ropeScalingNote(rope),
    );
    canvasHeatmap(box, {
      rows: rope.angles,
      labels: rope.angles.map((_, i) => `pos ${i}`),
      colLabels: (rope.angles[0] ?? []).map((_, i) => `pair ${i}`),
      corner: 'position ↓',
      lut: CYCLIC,
      scale: (v) => (v + Math.PI) / (2 * Math.PI),
      width: widthOf(box),
      minCellW: 6,
      maxCellW: 64,
      focusRow: state.focus,
      onHover: (r, c, ev) => {
        const text = `position ${r} · pair ${c}: angle ${fmt(rope.angles[r][c], 3)} rad (${fmt((rope.angles[r][c] * 180) / Math.PI, 3)}°)`;
        readout.textContent = text;
        showTip(ev, text);
      },
      onLeave: hideTip,
      onClickRow: (r) => actions.setFocus(r),
    });
    box.append(
      colorLegend({
        lut: CYCLIC,
        scale: scaleLinear().domain([-Math.PI, Math.PI]).range([0, 1]),
        title: 'rotation angle, radians (the colours wrap around: −π and π are the same turn)',
      }),
    );
    // The rotations as waves: cos(angle) of a few pairs over the positions, fast to slow.
    const half = rope.angles[0]?.length ?? 0;
    const n = Math.min(half, 5);
    const pairs = Array.from({ length: n }, (_, k) => (n === 1 ? 0 : Math.round((k * (half - 1)) / (n - 1))));
    byId('pos-chart-title').textContent = 'cos(angle) over positions, for fast to slow pairs';
    lineChart(
      byId('pos-chart'),
      rope.angles.map((_, i) => String(i)),
      pairs.map((pi, k) => ({
        name: `pair ${pi}`,
        values: rope.angles.map((a) => Math.cos(a[pi])),
        color: SERIES[k % SERIES.length],
      })),
      { width: Math.min(760, widthOf(byId('pos-chart'))), height: 180, yDomain: [-1, 1] },
    );
  } else if (e.relative) {
    // T5: a learned bias per head and bucketed distance, added to every attention score
    const r = e.relative;
    explain.textContent =
      'Relative positions (T5): nothing is added to the vectors. Every attention score of a query for a key ' +
      'gets a learned number added, chosen by how far apart the two are (key − query): one per head, from a ' +
      `table of ${r.nBuckets} buckets — small distances each have their own bucket, larger ones share ` +
      `logarithmically wider buckets, and everything beyond ${r.maxDistance} shares the last. ` +
      (r.bidirectional
        ? 'The encoder tells keys before and after the query apart (half the buckets each).'
        : 'The decoder only sees earlier keys.') +
      ' The same bias is added in every block. Colour = the bias (red raises the score, blue lowers it).' +
      (tr.source ? ' Shown for the source tokens the encoder reads.' : '');
    const m = maxAbs(r.bias);
    canvasHeatmap(box, {
      rows: r.bias,
      labels: r.bias.map((_, h) => `head ${h}`),
      colLabels: r.distances.map((d) => String(d)),
      corner: 'head ↓ · key − query →',
      lut: DIVERGING,
      scale: (v) => (v / m + 1) / 2,
      width: widthOf(box),
      onHover: (row, c, ev) => {
        const text = `head ${row} · distance ${r.distances[c]} (bucket ${r.buckets[c]}): bias ${fmt(r.bias[row][c], 4)}`;
        readout.textContent = text;
        showTip(ev, text);
      },
      onLeave: hideTip,
    });
    box.append(divergingLegend(m, 'bias added to the attention score (blue < 0 < red)'));
    byId('pos-chart-title').textContent = 'bucket of each distance key − query';
    lineChart(
      byId('pos-chart'),
      r.distances.map(String),
      [{ name: 'bucket', values: r.buckets, color: SERIES[0] }],
      { width: Math.min(760, widthOf(byId('pos-chart'))), height: 180 },
    );
  } else {
    explain.textContent = 'This trace records no positional information.';
    box.replaceChildren();
    byId('pos-chart-title').textContent = '';
    byId('pos-chart').replaceChildren();
  }
}

/** What the model changes in plain RoPE: its scaling (the speeds of the pairs) and partial rotation. */
function ropeScalingNote(rope: NonNullable<TraceEmbeddings['rope']>): string[] {
  const notes: string[] = [];
  const s = rope.scaling;
  if (s) {
    const what: Record<typeof s.type, string> = {
      linear: 'every speed is divided by the factor (positions are squeezed)',
      dynamic: 'θ grows with the length of the text once it passes the trained context (NTK)',
      llama3: 'slow pairs are slowed down by the factor, fast ones kept, those between blended (Llama 3.1)',
      yarn: 'slow pairs are interpolated, fast ones kept, a ramp between (YaRN)',
      longrope: 'each pair has its own divisor, a short or a long set by the length of the text (LongRoPE)',
      'freq-factors': 'each pair has its own divisor (llama.cpp rope_freqs)',
    };
    notes.push(` Scaled for longer texts: ${s.type}: ${what[s.type]}.`);
    if (rope.attentionFactor !== undefined && rope.attentionFactor !== 1)
      notes.push(
        ` Cos and sin are also multiplied by ${fmt(rope.attentionFactor, 4)} (the attention factor).`,
      );
  }
  if (rope.rotaryDim !== undefined)
    notes.push(` Only the first ${rope.rotaryDim} dims of each head turn; the rest pass through unrotated.`);
  return notes;
}
