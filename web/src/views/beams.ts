// 4b — the beam tree (a trace run with beams > 1): one column per search step, each holding the 2·numBeams
// best continuations of that step, best first. A line joins each candidate to the beam it extends; a
// candidate is 'running' (a beam of the next step), 'finished' (it ended with end-of-text: a hypothesis)
// or 'dropped'. The winner's path — the output the alignment above shows — is drawn bold; hovering a
// candidate draws its own path back to the start and reads out its tokens and log-probability.
//
// Parents: candidate c of step s extends the beam `c.parent` among step s − 1's 'running' candidates, in
// their order (step 0 extends the empty beams; numBeams copies of the start).
import { byId, fmt, h, s as svg, showToken } from '../dom.js';
import { state } from '../state.js';
import type { TraceBeams } from '../../../src/trace/schema.js';

const COL = 96; // px per step
const ROW = 22; // px per candidate
const PAD = 8;

interface Node {
  step: number;
  rank: number;
  text: string;
  id: number;
  logprob: number;
  fate: 'running' | 'finished' | 'dropped';
  /** The node it extends (null: the start). */
  parent: Node | null;
}

/** The tree's nodes, step by step, each linked to the node it extends. */
function nodesOf(beams: TraceBeams): Node[][] {
  const cols: Node[][] = [];
  let running: Array<Node | null> = [];
  beams.steps.forEach((st, step) => {
    const col = st.candidates.map((c, rank): Node => ({
      step,
      rank,
      text: c.token.text,
      id: c.token.id,
      logprob: c.logprob,
      fate: c.fate,
      parent: step === 0 ? null : (running[c.parent] ?? null),
    }));
    cols.push(col);
    running = col.filter((n) => n.fate === 'running');
  });
  return cols;
}

/** A node's path from the start: the token ids it has written. */
function pathIds(n: Node): number[] {
  const ids: number[] = [];
  for (let p: Node | null = n; p; p = p.parent) ids.unshift(p.id);
  return ids;
}

export function renderBeams(): void {
  const box = byId('beam-tree');
  const beams = state.trace?.source ? state.trace.beams : undefined;
  box.hidden = !beams || beams.steps.length === 0;
  if (!beams || beams.steps.length === 0) return;
  const cols = nodesOf(beams);
  const nRows = Math.max(...cols.map((c) => c.length));
  const width = PAD * 2 + cols.length * COL;
  const height = PAD * 2 + nRows * ROW;
  const x = (n: Node) => PAD + n.step * COL;
  const y = (n: Node) => PAD + n.rank * ROW + ROW / 2;
  // the winner: the finished node whose path is the best hypothesis (ids past the forced start)
  const best = beams.hypotheses[0]?.ids.join();
  const winner = cols.flat().find((n) => n.fate === 'finished' && pathIds(n).join() === best) ?? null;
  const root = svg('svg', { width, height, class: 'beam-svg', role: 'img' });
  const edges = svg('g', { class: 'beam-edges' });
  const nodes = svg('g');
  root.append(edges, nodes);
  const edgeOf = new Map<Node, SVGLineElement>();
  const groupOf = new Map<Node, SVGGElement>();
  for (const n of cols.flat()) {
    if (n.parent) {
      const line = svg('line', {
        x1: x(n.parent) + COL - 10,
        y1: y(n.parent),
        x2: x(n),
        y2: y(n),
        class: 'beam-edge',
      });
      edges.append(line);
      edgeOf.set(n, line);
    }
    const g = svg('g', { class: `beam-node ${n.fate}`, 'data-step': n.step, 'data-rank': n.rank });
    g.append(
      svg('rect', { x: x(n), y: y(n) - ROW / 2 + 2, width: COL - 12, height: ROW - 4, rx: 4 }),
      svg('text', { x: x(n) + 4, y: y(n) + 4, text: showToken(n.text).slice(0, 11) }),
    );
    g.addEventListener('mouseenter', () => highlight(n));
    g.addEventListener('mouseleave', () => highlight(winner));
    nodes.append(g);
    groupOf.set(n, g);
  }
  const readout = h('p', { class: 'readout muted small' });
  box.replaceChildren(
    h('h3', {
      text: `Beam search: ${beams.steps[0].candidates.length / 2} beams, ${beams.steps.length} steps`,
    }),
    h(
      'p',
      { class: 'muted small' },
      'Each column is a step: its best continuations, best first. Lines join a candidate to the beam it ' +
        'extends; green ones ended with end-of-text (hypotheses), grey ones were dropped. The bold path is ' +
        'the output above.',
    ),
    h('div', { class: 'align-scroll' }, root),
    readout,
  );

  /** Draws n's path from the start bold (null: none) and reads it out. */
  function highlight(n: Node | null): void {
    for (const g of groupOf.values()) g.classList.remove('on-path');
    for (const e of edgeOf.values()) e.classList.remove('on-path');
    for (let p = n; p; p = p.parent) {
      groupOf.get(p)?.classList.add('on-path');
      edgeOf.get(p)?.classList.add('on-path');
    }
    if (!n) {
      readout.textContent = 'Hover a candidate to see its beam.';
      return;
    }
    const count = pathIds(n).length;
    let path = '';
    for (let p: Node | null = n; p; p = p.parent) path = showToken(p.text) + path;
    readout.textContent =
      `step ${n.step} · rank ${n.rank + 1} · ${n.fate} · ${count} tokens "${path}" · ` +
      `log-prob ${fmt(n.logprob, 4)}${n === winner ? ' · the winner' : ''}`;
  }
  highlight(winner);
}
