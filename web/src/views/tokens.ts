// 1 — tokenization: the text as coloured token chips with their ids; generated tokens follow, outlined.
// An encoder-decoder's source (what its encoder reads) comes first, on its own.
import { actions } from '../actions.js';
import { tokenColor } from '../colors.js';
import { byId, h, showToken } from '../dom.js';
import { allTokens, state } from '../state.js';

export function renderTokens(): void {
  const box = byId('tokens');
  const tr = state.trace;
  if (!tr) return;
  const toks = allTokens(state);
  const nPrompt = tr.tokens.length;
  const src = tr.source?.tokens ?? [];
  const source = src.map((t, j) =>
    h(
      'span',
      {
        class: 'tok src',
        style: `--tok:${tokenColor(j)}`,
        title: `source #${j} · id ${t.id}${t.end > t.start ? ` · bytes ${t.start}..${t.end}` : ' · added by the model'}`,
      },
      h('span', { class: 'tok-text', text: showToken(t.text) }),
      h('span', { class: 'tok-id', text: String(t.id) }),
    ),
  );
  const label = (text: string) => h('span', { class: 'muted small tok-label', text });
  box.replaceChildren(
    ...(src.length ? [label('source (the encoder reads):'), ...source, label('decoder:')] : []),
    ...toks.map((t, i) => {
      const gen = i >= nPrompt;
      const chip = h(
        'button',
        {
          type: 'button',
          class: 'tok' + (gen ? ' gen' : '') + (state.focus === i ? ' focus' : ''),
          style: `--tok:${tokenColor(i)}`,
          title: `#${i} · id ${t.id}${gen ? ' · generated' : t.end > t.start ? ` · bytes ${t.start}..${t.end}` : ' · added by the model'}`,
          'data-index': i,
        },
        h('span', { class: 'tok-text', text: showToken(t.text) }),
        h('span', { class: 'tok-id', text: String(t.id) }),
      );
      chip.addEventListener('click', () => actions.setFocus(state.focus === i ? null : i));
      return chip;
    }),
  );
  const bytes = new TextEncoder().encode(tr.prompt).length;
  byId('tokens-summary').textContent =
    (src.length
      ? `${src.length} source tokens from ${bytes} bytes · the decoder starts from ${showToken(tr.tokens[0]?.text ?? '')}`
      : `${nPrompt} prompt tokens from ${bytes} bytes`) +
    (state.steps.length ? ` · ${state.steps.length} generated` : '') +
    ` · vocabulary ${tr.model.vocabSize.toLocaleString('en')}`;
}
