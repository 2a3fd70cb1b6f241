// 7 — output: the logit lens (layer × top tokens), the next-token probability bars (click one to force
// it), and the response as it grows.
import { actions } from '../actions.js';
import { scaleSqrt } from 'd3';
import * as api from '../api.js';
import { colorLegend } from '../charts.js';
import { SEQUENTIAL, lutCss } from '../colors.js';
import { byId, h, pct, showToken } from '../dom.js';
import { currentOutput, focusOrLast, state, type StepLens, type TopToken } from '../state.js';

const LENS_NOTE =
  'The output row is the model’s real prediction: the final norm and the output head applied to the last ' +
  'layer’s residual. The lens does exactly that to every layer’s residual, so its last layer’s row and ' +
  'the output row are the same by construction; the rows above show how the guess forms on the way.';

/** The lens of a generated token: traced on demand (prompt + the text generated up to it), kept per position. */
async function loadStepLens(pos: number): Promise<void> {
  const tr = state.trace;
  if (!tr) return;
  const upTo = state.steps.slice(0, pos - tr.tokens.length + 1);
  state.stepLens.set(pos, 'loading');
  let got: StepLens | { error: string };
  try {
    const text = tr.prompt + upTo.map((st) => st.token.text).join('');
    const t = await api.trace(text, {
      lens: 'last',
      vectors: 'summary',
      attention: false,
      topK: tr.output.top.length || 10,
      precision: 4,
    });
    const ids = [...tr.tokens, ...upTo.map((st) => st.token)].map((x) => x.id);
    const same = t.tokens.length === ids.length && t.tokens.every((x, i) => x.id === ids[i]);
    got = same
      ? { layers: t.layers.map((l) => l.lens[0] ?? []), output: t.output.top }
      : {
          error:
            'no lens for this generated token: the prompt and the generated text split into other tokens when read again, so its position cannot be traced',
        };
  } catch (e) {
    got = { error: `no lens for this generated token: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (state.trace !== tr) return;
  state.stepLens.set(pos, got);
  renderLens();
}

function lensTable(rows: Array<[string, TopToken[]]>): void {
  const table = byId<HTMLTableElement>('lens');
  const cols = Math.min(5, rows[0]?.[1].length ?? 0);
  const head = h(
    'tr',
    {},
    h('th', { text: 'layer' }),
    ...Array.from({ length: cols }, (_, i) => h('th', { text: `#${i + 1}` })),
  );
  const row = (name: string, top: TopToken[]) =>
    h(
      'tr',
      { class: name === 'output' ? 'lens-output' : '' },
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
  table.replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows.map(([n, top]) => row(n, top))));
  byId('lens-legend').replaceChildren(
    colorLegend({
      lut: SEQUENTIAL,
      scale: scaleSqrt().domain([0, 1]).range([0, 0.75]),
      title: 'probability of the token',
      ticks: 5,
    }),
  );
}

export function renderLens(): void {
  const tr = state.trace;
  if (!tr) return;
  const where = byId('lens-where');
  const note = byId('lens-note');
  const want = focusOrLast(state);
  const T = tr.tokens.length;
  const names = tr.layers.map((l) => `L${l.layer}`);
  if (want >= T && want < T + state.steps.length) {
    // A generated token: its lens is traced on demand when the page can run the model.
    const got = state.stepLens.get(want);
    where.textContent = `at #${want} ${showToken(state.steps[want - T].token.text)} (generated)`;
    if (got === undefined && state.canGenerate) void loadStepLens(want);
    if (got && got !== 'loading' && !('error' in got)) {
      lensTable([
        ...got.layers.map((top, i): [string, TopToken[]] => [names[i], top]),
        ['output', got.output],
      ]);
      note.textContent = `${LENS_NOTE} (Traced again for this generated token: prompt and generated text up to it.)`;
      return;
    }
    byId('lens').replaceChildren();
    byId('lens-legend').replaceChildren();
    note.textContent =
      got === 'loading' || (got === undefined && state.canGenerate)
        ? 'tracing the prompt and the generated text up to this token for its lens…'
        : got
          ? got.error
          : 'A generated token’s lens needs the model that made it (glasslm serve, or Load model…): a saved trace holds the lens of its prompt tokens only.';
    return;
  }
  let k = tr.lensPositions.indexOf(want);
  if (k < 0) k = tr.lensPositions.length - 1;
  const pos = tr.lensPositions[k];
  where.textContent =
    `at #${pos} ${showToken(tr.tokens[pos]?.text ?? '')}` +
    (pos === want ? '' : ' (this trace has the lens for the last token only)');
  const rows = tr.layers.map((l, i): [string, TopToken[]] => [names[i], l.lens[k] ?? []]);
  if (pos === T - 1) rows.push(['output', tr.output.top]);
  lensTable(rows);
  note.textContent =
    pos === T - 1
      ? LENS_NOTE
      : 'Before the last token the model makes no real prediction to compare with (no output row): the lens shows what each layer would guess for the token after this one.';
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
