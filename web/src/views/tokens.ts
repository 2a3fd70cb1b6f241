// 1 — tokenization: the text as coloured token chips with their ids; generated tokens follow, outlined.
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
  box.replaceChildren(
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
    `${nPrompt} prompt tokens from ${bytes} bytes` +
    (state.steps.length ? ` · ${state.steps.length} generated` : '') +
    ` · vocabulary ${tr.model.vocabSize.toLocaleString('en')}`;
}
