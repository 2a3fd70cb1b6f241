// 7 — output: the logit lens (layer × top tokens), the next-token probability bars (click one to force
// it), and the response as it grows.
import { actions } from '../actions.js';
import { SEQUENTIAL, lutCss } from '../colors.js';
import { byId, h, pct, showToken } from '../dom.js';
import { currentOutput, focusOrLast, state } from '../state.js';

export function renderLens(): void {
  const tr = state.trace;
  if (!tr) return;
  const table = byId<HTMLTableElement>('lens');
  const where = byId('lens-where');
  const want = focusOrLast(state);
  let k = tr.lensPositions.indexOf(want);
  if (k < 0) k = tr.lensPositions.length - 1;
  const pos = tr.lensPositions[k];
  where.textContent =
    `at #${pos} ${showToken(tr.tokens[pos]?.text ?? '')}` +
    (pos === want
      ? ''
      : want >= tr.tokens.length
        ? ' (generated tokens have no lens)'
        : ' (this trace has the lens for the last token only)');
  const cols = Math.min(5, tr.layers[0]?.lens[k]?.length ?? 0);
  const head = h(
    'tr',
    {},
    h('th', { text: 'layer' }),
    ...Array.from({ length: cols }, (_, i) => h('th', { text: `#${i + 1}` })),
  );
  const row = (name: string, top: { text: string; prob: number }[]) =>
    h(
      'tr',
      {},
      h('th', { text: name }),
      ...top.slice(0, cols).map((c) =>
        h(
          'td',
          {
            style: `background:${lutCss(SEQUENTIAL, Math.sqrt(c.prob) * 0.75)};color:${c.prob > 0.45 ? '#fff' : 'inherit'}`,
            title: `${JSON.stringify(c.text)} ${pct(c.prob)}`,
          },
          h('span', { class: 'lens-tok', text: showToken(c.text) }),
          h('span', { class: 'lens-p', text: pct(c.prob) }),
        ),
      ),
    );
  const body = tr.layers.map((l) => row(`L${l.layer}`, l.lens[k] ?? []));
  if (pos === tr.tokens.length - 1) body.push(row('output', tr.output.top));
  table.replaceChildren(h('thead', {}, head), h('tbody', {}, ...body));
}

export function renderBars(): void {
  const tr = state.trace;
  if (!tr) return;
  const out = currentOutput(state);
  const box = byId('bars');
  const where = byId('bars-where');
  if (!out) return;
  const n = tr.tokens.length + state.steps.length;
  const last = state.steps.length
    ? state.steps[state.steps.length - 1].token
    : tr.tokens[tr.tokens.length - 1];
  where.textContent = `after #${n - 1} ${showToken(last.text)}`;
  const maxP = Math.max(...out.top.map((c) => c.prob), 1e-9);
  box.replaceChildren(
    ...out.top.map((c) => {
      const b = h(
        'button',
        {
          type: 'button',
          class: 'bar',
          title: state.canGenerate
            ? `force ${JSON.stringify(c.text)} as the next token`
            : JSON.stringify(c.text),
          disabled: !state.canGenerate || state.busy,
          'data-id': c.id,
        },
        h('span', { class: 'bar-label', text: showToken(c.text) }),
        h(
          'span',
          { class: 'bar-track' },
          h('span', { class: 'bar-fill', style: `width:${((c.prob / maxP) * 100).toFixed(1)}%` }),
        ),
        h('span', { class: 'bar-p', text: pct(c.prob) }),
      );
      b.addEventListener('click', () => actions.forceToken(c.id));
      return b;
    }),
  );
}

export function renderResponse(): void {
  const tr = state.trace;
  if (!tr) return;
  const box = byId('response');
  const T = tr.tokens.length;
  const parts: Node[] = [h('span', { class: 'resp-prompt', text: tr.prompt })];
  state.steps.forEach((st, i) => {
    const sp = h('span', {
      class: 'gen-token' + (state.focus === T + i ? ' focus' : ''),
      text: st.token.text,
      title: `#${T + i} id ${st.token.id} — click to see its attention`,
    });
    sp.addEventListener('click', () => actions.setFocus(T + i));
    parts.push(sp);
  });
  if (!state.steps.length) parts.push(h('span', { class: 'muted', text: ' …press Next or Generate' }));
  box.replaceChildren(...parts);
  for (const id of ['next', 'generate', 'reset-steps']) {
    byId<HTMLButtonElement>(id).disabled =
      !state.canGenerate || state.busy || (id === 'reset-steps' && !state.steps.length);
  }
}
