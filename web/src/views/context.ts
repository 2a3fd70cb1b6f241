// 5 — how context changes meaning: one word in several sentences, its vector compared layer by layer
// between every pair of sentences (src/trace/contextual.ts, run by the server or the page's engine), and
// the static word2vec vector, the same in every sentence (a flat line at 1).
import * as api from '../api.js';
import { lineChart, type Series } from '../charts.js';
import { SERIES } from '../colors.js';
import { byId, fmt, showToken, widthOf } from '../dom.js';
import { state, type ContextualComparison } from '../state.js';

/** The sentences typed, one a line (blank lines dropped). */
export function contextSentences(text: string): string[] {
  return text
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function runContext(sentences: string[], word: string): Promise<ContextualComparison> {
  if (sentences.length < 2)
    return Promise.reject(new Error('write the word in at least 2 sentences, one a line'));
  return api.contextual(word, sentences);
}

export function renderContext(): void {
  const box = byId('ctx-chart');
  const note = byId('ctx-note');
  const btn = byId<HTMLButtonElement>('ctx-run');
  btn.disabled = !state.model || state.busy;
  const r = state.context;
  if (!r) {
    box.replaceChildren();
    note.textContent = state.model
      ? 'Press Compare to run every sentence.'
      : 'Needs the server (glasslm serve): the sentences are run through the model.';
    return;
  }
  const series: Series[] = r.pairs.map(([a, b], p) => ({
    name: `S${a + 1}·S${b + 1}`,
    values: r.cosines.map((row) => row[p]),
    color: SERIES[p % SERIES.length],
  }));
  if (r.static)
    series.push({
      name: 'word2vec (static, every pair)',
      values: r.cosines.map(() => r.static!.cosines[0]),
      color: '#495057',
      dashed: true,
    });
  // the lines' range, from a tenth below their lowest (or from 0 if it is negative) up to 1
  const low = Math.min(...r.cosines.flat());
  const floor = low < 0 ? low : Math.max(0, Math.floor(low * 10) / 10 - 0.1);
  lineChart(
    box,
    r.layers.map((name, l) => (l === 0 ? 'emb' : `L${l}`)),
    series,
    {
      width: Math.min(760, widthOf(box)),
      height: 240,
      yDomain: [floor, 1],
    },
  );
  const split = r.occurrences.some((o) => o.tokens.length > 1);
  note.textContent =
    r.occurrences
      .map(
        (o, s) =>
          `S${s + 1} “${o.sentence}”: ${o.tokens.map((t) => showToken(t.text)).join(' + ')}` +
          (o.occurrences > 1 ? ` (the first of ${o.occurrences})` : ''),
      )
      .join(' · ') +
    '. ' +
    (split ? `“${r.word}” is split into sub-word tokens: its vector is the mean of theirs. ` : '') +
    `After the last layer: ${series
      .slice(0, r.pairs.length)
      .map((s) => `${s.name} ${fmt(s.values[s.values.length - 1], 3)}`)
      .join(', ')}. ` +
    (r.static
      ? `word2vec has one vector for “${r.word}” whatever the sentence: its line stays at 1.`
      : 'No static line: no word vectors here (glasslm serve loads them).');
}
