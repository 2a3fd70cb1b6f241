// W — the word map: static word vectors (the server's word2vec file) of the words the user types, on the
// embedding view's 2-D PCA (pca.ts), with each analogy a : b :: c : d drawn as two arrows, a→b and c→d,
// that run parallel when the analogy holds.
import * as api from '../api.js';
import { scatter, type ScatterArrow, type ScatterPoint } from '../charts.js';
import { SERIES } from '../colors.js';
import { byId, errorAt, fmt, widthOf } from '../dom.js';
import { pca2 } from '../pca.js';
import { state, type MapAnalogy } from '../state.js';

/** The words typed, split on spaces and commas, as typed (the vectors' vocabulary decides their case). */
function split(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[,\s]+/)
        .map((w) => w.trim())
        .filter(Boolean),
    ),
  ];
}

/** Fetches the vectors of the words not on the map yet and adds them. */
async function ensureWords(words: string[]): Promise<void> {
  const have = new Set(state.mapWords.map((w) => w.word));
  const missing = words.filter((w) => !have.has(w));
  if (!missing.length) return;
  const r = await api.wordVectors(missing);
  state.mapWords.push(...r.words);
}

export async function addMapWords(text: string): Promise<void> {
  errorAt('wm-error', null);
  const words = split(text);
  if (!words.length) return;
  try {
    await ensureWords(words);
  } catch (e) {
    errorAt('wm-error', e);
  }
  renderWordMap();
}

/** "a : b :: c : ?" (or "a b c"): the three words, or null. */
export function parseAnalogy(text: string): [string, string, string] | null {
  const m =
    /^\s*(\S+?)\s*:\s*(\S+?)\s*::\s*(\S+?)\s*(?::\s*\??\s*)?$/.exec(text) ??
    /^\s*(\S+)\s+(\S+)\s+(\S+)\s*$/.exec(text);
  return m ? [m[1], m[2], m[3]] : null;
}

export async function solveAnalogy(text: string): Promise<void> {
  errorAt('wm-error', null);
  const q = parseAnalogy(text);
  if (!q) {
    errorAt('wm-error', 'write an analogy as  a : b :: c : ?  (e.g. man : king :: woman : ?)');
    return;
  }
  const [a, b, c] = q;
  try {
    const r = await api.analogy(a, b, c);
    const best = r.answers[0];
    if (!best) throw new Error('no answer: the vocabulary has no other words');
    await ensureWords([a, b, c, best.word]);
    const x: MapAnalogy = { a, b, c, d: best.word, score: best.score };
    state.mapAnalogies = [...state.mapAnalogies.filter((y) => !(y.a === a && y.b === b && y.c === c)), x];
    byId('wm-answer').textContent =
      `${a} : ${b} :: ${c} : ${best.word} (score ${fmt(best.score, 3)}` +
      (r.answers.length > 1
        ? `; then ${r.answers
            .slice(1)
            .map((s) => `${s.word} ${fmt(s.score, 3)}`)
            .join(', ')})`
        : ')') +
      ' — the arrows ' +
      `${a}→${b} and ${c}→${best.word} are drawn in the same colour.`;
  } catch (e) {
    errorAt('wm-error', e);
  }
  renderWordMap();
}

export function clearWordMap(): void {
  state.mapWords = [];
  state.mapAnalogies = [];
  byId('wm-answer').textContent = '';
  errorAt('wm-error', null);
  renderWordMap();
}

export function renderWordMap(): void {
  const sec = byId('sec-wordmap');
  const v = state.wordVectors;
  sec.hidden = !v;
  if (!v) return;
  byId('wm-source').textContent =
    `${v.source}: ${v.words.toLocaleString('en')} words × ${v.dim} dimensions, one fixed vector per word. ` +
    'It knows only the words of its corpus.';
  const box = byId('wordmap');
  const words = state.mapWords;
  if (words.length < 3) {
    box.textContent = 'Add a few words, or solve an analogy, to see where they lie.';
    return;
  }
  const row = new Map(words.map((w, i) => [w.word, i]));
  const colour = new Map<string, string>();
  const arrows: ScatterArrow[] = [];
  state.mapAnalogies.forEach((x, k) => {
    const c = SERIES[(k + 1) % SERIES.length];
    for (const w of [x.a, x.b, x.c, x.d]) if (!colour.has(w)) colour.set(w, c);
    arrows.push(
      { from: row.get(x.a)!, to: row.get(x.b)!, color: c, title: `${x.a} → ${x.b}` },
      { from: row.get(x.c)!, to: row.get(x.d)!, color: c, title: `${x.c} → ${x.d} (the answer)` },
    );
  });
  const answers = new Map(state.mapAnalogies.map((x) => [x.d, x]));
  const p = pca2(words.map((w) => w.vector));
  const points: ScatterPoint[] = words.map((w, i) => {
    const x = answers.get(w.word);
    return {
      x: p.points[i][0],
      y: p.points[i][1],
      label: x ? `${w.word} (${fmt(x.score, 2)})` : w.word,
      color: colour.get(w.word) ?? '#1c7ed6',
      kind: colour.has(w.word) ? 'analogy' : 'word',
      ring: !!x,
      title: x ? `${w.word}: the answer to ${x.a} : ${x.b} :: ${x.c} : ?, score ${fmt(x.score, 4)}` : w.word,
    };
  });
  const width = widthOf(box);
  scatter(box, points, {
    width,
    height: Math.min(460, Math.max(340, width * 0.55)),
    first: 'analogy',
    arrows,
    caption:
      `PC1 ${(p.explained[0] * 100).toFixed(0)}% · PC2 ${(p.explained[1] * 100).toFixed(0)}% of the variance of ` +
      `these ${words.length} words’ vectors · arrows: a→b and c→d of each analogy, in its colour; a ring is ` +
      'an answer (its score after it). Two dimensions of many: parallel here is a hint, not a proof.',
  });
}
