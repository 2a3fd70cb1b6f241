// 4b — alignment (encoder-decoders: translation): the source tokens along the top, the output tokens down
// the side, each cell how much the decoder attended to that source token (cross-attention) when it chose
// that output token. Hovering an output token highlights what it attended to. One layer/head, or the mean.
import { SEQUENTIAL, lutCss } from '../colors.js';
import { byId, fmt, h, showToken } from '../dom.js';
import { actions } from '../actions.js';
import { state } from '../state.js';
import { renderBeams } from './beams.js';
import { alignment, type Alignment, type Pick } from '../../../src/trace/alignment.js';

/** The layer (an index into trace.layers) and head shown, and the output token hovered. */
const view: { layer: Pick; head: Pick; active: number | null } = {
  layer: 'mean',
  head: 'mean',
  active: null,
};

const shade = (v: number) => Math.sqrt(Math.max(0, v));

/** The alignment the view draws now (null: not an encoder-decoder trace). */
export function currentAlignment(): Alignment | null {
  return state.trace ? alignment(state.trace, state.steps, view.layer, view.head) : null;
}

function select(id: string, options: Array<[Pick, string]>, value: Pick, set: (v: Pick) => void): void {
  const sel = byId<HTMLSelectElement>(id);
  sel.replaceChildren(
    ...options.map(([v, text]) => h('option', { value: String(v), text, selected: v === value })),
  );
  sel.onchange = () => {
    set(sel.value === 'mean' ? 'mean' : Number(sel.value));
    renderAlignment();
  };
}

export function renderAlignment(): void {
  const tr = state.trace;
  const section = byId('sec-alignment');
  section.hidden = !tr?.source;
  if (!tr?.source) return;
  if (view.layer !== 'mean' && view.layer >= tr.layers.length) view.layer = 'mean';
  if (view.head !== 'mean' && view.head >= tr.model.nHeads) view.head = 'mean';
  select(
    'align-layer',
    [['mean', 'mean of layers'], ...tr.layers.map((l, i): [Pick, string] => [i, `layer ${l.layer}`])],
    view.layer,
    (v) => (view.layer = v),
  );
  select(
    'align-head',
    [
      ['mean', 'mean of heads'],
      ...Array.from({ length: tr.model.nHeads }, (_, i): [Pick, string] => [i, `head ${i}`]),
    ],
    view.head,
    (v) => (view.head = v),
  );
  // beams: 1 (greedy) … 5; the trace's own count, read from its tree (2·numBeams candidates per step)
  const beams = tr.beams?.steps[0] ? tr.beams.steps[0].candidates.length / 2 : 1;
  const beamSel = byId<HTMLSelectElement>('align-beams');
  beamSel.replaceChildren(
    ...[1, 2, 3, 4, 5].map((n) =>
      h('option', { value: String(n), text: n === 1 ? '1 (greedy)' : String(n), selected: n === beams }),
    ),
  );
  beamSel.onchange = () => actions.setBeams(Number(beamSel.value));
  renderBeams();
  const a = currentAlignment()!;
  const box = byId('align-view');
  const readout = byId('align-readout');
  if (a.output.length === 0) {
    box.replaceChildren(h('p', { class: 'muted', text: 'No output tokens yet.' }));
    return;
  }
  if (view.active !== null && view.active >= a.output.length) view.active = null;
  const head = h('tr', {}, h('th', { class: 'align-corner', text: 'output ↓ · source →' }));
  const srcCells = a.source.map((t, j) => {
    const th = h('th', { class: 'align-src', 'data-j': j, title: `source #${j} id ${t.id}` });
    th.append(h('span', { class: 'tok-text', text: showToken(t.text) }), h('span', { class: 'align-w' }));
    head.append(th);
    return th;
  });
  const rows = a.output.map((t, k) => {
    const row = h('tr', { class: 'align-row', 'data-k': k });
    row.append(h('th', { class: 'align-out', title: `output #${k} id ${t.id}`, text: showToken(t.text) }));
    a.weights[k].forEach((w, j) => {
      row.append(
        h('td', {
          class: 'align-cell',
          style: Number.isNaN(w) ? undefined : `background:${lutCss(SEQUENTIAL, shade(w))}`,
          title: `${showToken(t.text)} → ${showToken(a.source[j].text)}: ${fmt(w, 3)}`,
        }),
      );
    });
    row.addEventListener('mouseenter', () => activate(k));
    return row;
  });
  const table = h('table', { class: 'align-table' }, h('thead', {}, head), h('tbody', {}, ...rows));
  table.addEventListener('mouseleave', () => activate(null));
  const wrap = h('div', { class: 'align-scroll' }, table);
  box.replaceChildren(wrap);

  /** Highlights output token k's row and, along the top, what it attended to (null: none). */
  function activate(k: number | null): void {
    view.active = k;
    rows.forEach((r, i) => r.classList.toggle('active', i === k));
    srcCells.forEach((c, j) => {
      const w = k === null ? NaN : a.weights[k][j];
      c.style.background = Number.isNaN(w) ? '' : lutCss(SEQUENTIAL, shade(w));
      c.classList.toggle('strong', w > 0.5);
      c.querySelector('.align-w')!.textContent = Number.isNaN(w) ? '' : fmt(w, 2);
      if (Number.isNaN(w)) delete c.dataset.weight;
      else c.dataset.weight = String(w);
    });
    if (k === null) {
      readout.textContent = 'Hover an output token to see what it attended to.';
      return;
    }
    const best = a.weights[k]
      .map((w, j) => [w, j] as const)
      .sort((x, y) => y[0] - x[0])
      .slice(0, 3)
      .map(([w, j]) => `#${j} ${showToken(a.source[j].text)} ${fmt(w, 2)}`);
    readout.textContent = `output #${k} ${showToken(a.output[k].text)} attended to ${best.join(', ')}`;
  }
  activate(view.active);
}
