// The explorer page: run a prompt through the server's model (or load a saved trace) and follow it
// stage by stage. State lives in state.ts; each numbered section draws itself from it (views/).
import './style.css';
import { actions } from './actions.js';
import * as api from './api.js';
import type { LocalModelInfo } from './engine/protocol.js';
import { showEngine, wireModelLoader } from './engine/ui.js';
import { byId, errorAt, fmt } from './dom.js';
import { state, type Trace, type TraceModelInfo, type TraceStep } from './state.js';
import { TRACE_VERSION } from '../../src/trace/schema.js';
import { renderAlignment } from './views/alignment.js';
import { renderAttention, renderAttentionControls } from './views/attention.js';
import { contextSentences, renderContext, runContext } from './views/context.js';
import { renderEmbeddings, renderPca, renderPositions } from './views/embeddings.js';
import { renderLayers } from './views/layers.js';
import { renderSimilarity, runSimilarity } from './views/similarity.js';
import { renderBars, renderLens, renderResponse } from './views/output.js';
import { renderTokens } from './views/tokens.js';
import { addMapWords, clearWordMap, renderWordMap, solveAnalogy } from './views/wordmap.js';

/** Longer prompts get attention weights one layer at a time, when that layer is shown (T² per head). */
const EAGER_ATTENTION_MAX_TOKENS = 96;
/** Most output tokens of an encoder-decoder's translation (it stops at its end-of-text first). */
const SEQ2SEQ_STEPS = 64;

// ---- status and errors -------------------------------------------------------------------------

function setStatus(text: string): void {
  byId('status').textContent = text;
}

/** An error of the prompt form, of loading a trace or of loading a model: under the prompt. */
function showError(e: unknown): void {
  errorAt('error', e);
}

function clearError(): void {
  errorAt('error', null);
}

function setBusy(busy: boolean): void {
  state.busy = busy;
  byId<HTMLButtonElement>('run').disabled = busy || !state.model;
  document.body.classList.toggle('busy', busy);
  renderBars();
  renderResponse();
  renderContext();
}

// ---- rendering ---------------------------------------------------------------------------------

function sameModel(a: TraceModelInfo | null, b: TraceModelInfo): boolean {
  return (
    !!a &&
    a.family === b.family &&
    a.nLayers === b.nLayers &&
    a.dim === b.dim &&
    a.nHeads === b.nHeads &&
    a.vocabSize === b.vocabSize
  );
}

function describeModel(m: TraceModelInfo): string {
  const src = m.source.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
  return (
    `${m.family} · ${m.nLayers} layers · ${m.nHeads} heads${m.nKvHeads !== m.nHeads ? ` (${m.nKvHeads} kv)` : ''} · ` +
    `dim ${m.dim} · vocab ${m.vocabSize.toLocaleString('en')} · context ${m.contextLength} · ${src}`
  );
}

function renderFocusDependent(): void {
  renderTokens();
  renderEmbeddings();
  renderPositions();
  renderAttention();
  renderLayers();
  renderLens();
  renderResponse();
}

function renderAll(): void {
  const tr = state.trace;
  byId('empty').hidden = !!tr;
  byId('stages').hidden = !tr;
  byId<HTMLButtonElement>('download').disabled = !tr;
  if (!tr) return;
  renderAttentionControls();
  renderFocusDependent();
  renderAlignment();
  renderPca();
  renderContext();
  renderBars();
}

let frame = 0;
function renderStepsSoon(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderTokens();
    renderAttention();
    renderAlignment();
    renderLens();
    renderBars();
    renderResponse();
  });
}

function setTrace(tr: Trace, steps: TraceStep[] = []): void {
  state.trace = tr;
  state.steps = steps;
  state.focus = null;
  state.layerIdx = Math.min(state.layerIdx, Math.max(0, tr.layers.length - 1));
  if (state.head !== 'mean' && state.head >= tr.model.nHeads) state.head = 0;
  // an encoder-decoder's trace holds its whole translation; more steps are not streamed after it
  state.canGenerate = api.engine() !== null && sameModel(state.model, tr.model) && !tr.source;
  state.loadingAttention.clear();
  state.stepLens.clear();
  for (const id of ['gen-error', 'att-error']) errorAt(id, null);
  renderAll();
  void ensureLayerAttention(state.layerIdx);
}

// ---- actions -----------------------------------------------------------------------------------

actions.setFocus = (i) => {
  state.focus = i;
  renderFocusDependent();
};

actions.selectHead = (layerIdx, head) => {
  state.layerIdx = layerIdx;
  state.head = head;
  renderAttentionControls();
  renderAttention();
  void ensureLayerAttention(layerIdx);
};

/** Fetches one layer's prompt attention when the trace was recorded without it (long prompts). */
async function ensureLayerAttention(layerIdx: number): Promise<void> {
  const tr = state.trace;
  const layer = tr?.layers[layerIdx];
  if (!tr || !layer || layer.attention || !state.canGenerate || state.loadingAttention.has(layer.layer))
    return;
  state.loadingAttention.add(layer.layer);
  renderAttention();
  try {
    const one = await api.trace(tr.prompt, {
      layers: [layer.layer],
      attention: true,
      vectors: 'summary',
      lens: 'last',
      topK: 1,
      precision: 3,
    });
    if (state.trace === tr) layer.attention = one.layers[0]?.attention;
  } catch (e) {
    errorAt('att-error', e);
  } finally {
    state.loadingAttention.delete(layer.layer);
    if (state.trace === tr) renderAttention();
  }
}

/** Beams for an encoder-decoder's translation (the alignment section's picker; 1 = greedy). */
let numBeams = 1;
actions.setBeams = (n) => {
  numBeams = n; // while a run is busy: used by the next one
  if (state.trace && !state.busy) void runPrompt(state.trace.prompt);
};

actions.forceToken = (id) => {
  const forced = [...state.steps.map((s) => s.token.id), id];
  void runGeneration(forced.length, forced);
};

async function runPrompt(prompt: string): Promise<void> {
  clearError();
  setBusy(true);
  setStatus('tokenizing…');
  try {
    const topK = Math.max(1, Math.min(50, Number(byId<HTMLInputElement>('topk').value) || 10));
    const { count } = await api.tokenize(prompt);
    const room = state.model?.contextLength ?? Infinity;
    if (count > room)
      throw new Error(
        `This prompt is ${count} tokens; the model reads at most ${room} at once (its context length). Shorten it and Run again.`,
      );
    setStatus(`running ${count} tokens through the model…`);
    const t0 = performance.now();
    const tr = await api.trace(prompt, {
      topK,
      vectors: 'full',
      attention: count <= EAGER_ATTENTION_MAX_TOKENS,
      // The lens for every position costs an LM-head pass per token per layer: only for short prompts.
      lens: count <= 48 ? 'all' : 'last',
      precision: 4,
      // an encoder-decoder translates the prompt: its output is recorded with the trace (the alignment)
      ...(state.model?.encoder && {
        steps: Math.min(SEQ2SEQ_STEPS, state.model.contextLength - 1),
        ...(numBeams > 1 && { numBeams }),
      }),
    });
    setTrace(tr, tr.source ? tr.steps : []);
    setStatus(
      `${tr.tokens.length} tokens · forward pass ${fmt(tr.elapsedMs, 3)} ms · round trip ${fmt(performance.now() - t0, 3)} ms`,
    );
  } catch (e) {
    // What is below was the previous prompt's: it must not stay as if it were this one's.
    state.trace = null;
    state.steps = [];
    state.focus = null;
    renderAll();
    showError(e);
    setStatus('');
  } finally {
    setBusy(false);
  }
}

function samplingParams(): { temperature: number; seed: number } {
  const temperature = Math.max(0, Number(byId<HTMLInputElement>('temperature').value) || 0);
  const seedText = byId<HTMLInputElement>('seed').value.trim();
  const seed =
    seedText === '' ? Math.floor(Math.random() * 2 ** 31) : Math.max(0, Math.floor(Number(seedText)) || 0);
  return { temperature, seed };
}

/** Streams `steps` tokens after the prompt; the first forced.length are the given ids. */
async function runGeneration(steps: number, forced: number[]): Promise<void> {
  const tr = state.trace;
  if (!tr || !state.canGenerate || state.busy) return;
  errorAt('gen-error', null);
  const room = tr.model.contextLength - tr.tokens.length;
  if (steps > room) {
    errorAt(
      'gen-error',
      `the model's context is ${tr.model.contextLength} tokens: room for ${room} generated tokens`,
    );
    return;
  }
  setBusy(true);
  const want = steps - forced.length;
  setStatus(want > 0 ? `generating ${want} token${want === 1 ? '' : 's'}…` : 'forcing the token…');
  const topK = tr.output.top.length || 10;
  try {
    const n = await api.generate(
      { prompt: tr.prompt, steps, forced, ...samplingParams(), topK, precision: 4 },
      (step, i) => {
        state.steps[i] = step;
        // Follow the newest token: its attention row is the one outlined and drawn as lines.
        if (i >= forced.length - 1) state.focus = tr.tokens.length + i;
        if (i >= forced.length - 1) setStatus(`generated ${i + 1} of ${steps}`);
        renderStepsSoon();
      },
    );
    state.steps.length = Math.min(state.steps.length, n);
    const last = state.steps[state.steps.length - 1];
    setStatus(`${state.steps.length} generated${last && n < steps ? ' · stopped at end of text' : ''}`);
  } catch (e) {
    errorAt('gen-error', e);
    setStatus('');
  } finally {
    setBusy(false);
    renderTokens();
    renderAttention();
    renderBars();
    renderResponse();
  }
}

async function addWords(text: string): Promise<void> {
  const have = new Set(state.words.map((w) => w.word));
  const words = [
    ...new Set(
      text
        .split(/[,\s]+/)
        .map((w) => w.trim())
        .filter((w) => w && !have.has(w)),
    ),
  ];
  errorAt('pca-error', null);
  if (!words.length) return;
  if (!state.model) {
    errorAt(
      'pca-error',
      'adding words needs a model (glasslm serve, or Load model…): their vectors come from it',
    );
    return;
  }
  if (state.trace && !sameModel(state.model, state.trace.model)) {
    errorAt(
      'pca-error',
      'this trace is from another model than the server runs: its words cannot be compared',
    );
    return;
  }
  try {
    const r = await api.embeddings(words);
    state.words.push(...r.words);
    renderPca();
  } catch (e) {
    errorAt('pca-error', e);
  }
}

function download(): void {
  const tr = state.trace;
  if (!tr) return;
  const blob = new Blob([JSON.stringify({ ...tr, steps: state.steps })], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  const slug =
    tr.prompt
      .trim()
      .slice(0, 32)
      .replace(/[^\p{L}\p{N}]+/gu, '-')
      .replace(/^-|-$/g, '') || 'trace';
  a.download = `glasslm-${slug}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function isTrace(x: unknown): x is Trace {
  const t = x as Partial<Trace> | null;
  return (
    !!t &&
    typeof t === 'object' &&
    typeof t.prompt === 'string' &&
    Array.isArray(t.tokens) &&
    Array.isArray(t.layers) &&
    !!t.model &&
    !!t.output &&
    !!t.embeddings
  );
}

async function load(file: File): Promise<void> {
  clearError();
  try {
    const data: unknown = JSON.parse(await file.text());
    if (!isTrace(data))
      throw new Error(`${file.name}: not a glasslm trace (it needs prompt, tokens, layers, model, output)`);
    if (data.version !== TRACE_VERSION)
      throw new Error(
        `${file.name}: trace version ${String(data.version)}; this page reads version ${TRACE_VERSION}`,
      );
    byId<HTMLTextAreaElement>('prompt').value = data.prompt;
    state.words = state.words.filter(() => sameModel(state.model, data.model));
    setTrace(data, Array.isArray(data.steps) ? data.steps : []);
    setStatus(
      `loaded ${file.name}: ${data.tokens.length} tokens, ${state.steps.length} generated` +
        (state.canGenerate ? '' : ' · viewing only'),
    );
  } catch (e) {
    showError(e instanceof SyntaxError ? new Error(`${file.name}: not valid JSON (${e.message})`) : e);
  }
}

// ---- wiring ------------------------------------------------------------------------------------

/**
 * A form whose text box adds words (the box is cleared on submit), and its preset buttons (data-words):
 * the PCA panel's and the word map's.
 */
function wordsForm(form: string, input: string, presets: string, add: (text: string) => Promise<void>): void {
  byId(form).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const box = byId<HTMLInputElement>(input);
    const text = box.value;
    box.value = '';
    void add(text);
  });
  for (const b of document.querySelectorAll<HTMLButtonElement>(presets)) {
    b.addEventListener('click', () => void add(b.dataset.words ?? ''));
  }
}

function wire(): void {
  byId('prompt-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = byId<HTMLTextAreaElement>('prompt').value;
    if (!state.busy) void runPrompt(text);
  });
  byId('prompt').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      byId<HTMLFormElement>('prompt-form').requestSubmit();
    }
  });
  byId('layer').addEventListener('change', (ev) =>
    actions.selectHead(Number((ev.target as HTMLSelectElement).value), state.head),
  );
  byId('head').addEventListener('change', (ev) => {
    const v = (ev.target as HTMLSelectElement).value;
    actions.selectHead(state.layerIdx, v === 'mean' ? 'mean' : Number(v));
  });
  byId('clear-focus').addEventListener('click', () => actions.setFocus(null));
  byId('layers-mean').addEventListener('change', renderLayers);
  byId('next').addEventListener('click', () => {
    const ids = state.steps.map((s) => s.token.id);
    void runGeneration(ids.length + 1, ids);
  });
  byId('generate').addEventListener('click', () => {
    const ids = state.steps.map((s) => s.token.id);
    const n = Math.max(1, Math.min(256, Math.floor(Number(byId<HTMLInputElement>('gen-steps').value)) || 1));
    void runGeneration(ids.length + n, ids);
  });
  byId('reset-steps').addEventListener('click', () => {
    state.steps = [];
    state.stepLens.clear();
    if (state.focus !== null && state.trace && state.focus >= state.trace.tokens.length) state.focus = null;
    renderAll();
  });
  wordsForm('pca-form', 'pca-word', 'button.preset', addWords);
  byId('pca-clear').addEventListener('click', () => {
    state.words = [];
    renderPca();
  });
  byId('ctx-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const sentences = contextSentences(byId<HTMLTextAreaElement>('ctx-sentences').value);
    const word = byId<HTMLInputElement>('ctx-word').value.trim();
    const failed = (e: unknown) => {
      // The chart below was another comparison's: cleared, so it is not read as this one's.
      state.context = null;
      renderContext();
      errorAt('ctx-error', e);
    };
    if (!word) return failed('type the word to follow in the sentences');
    errorAt('ctx-error', null);
    setBusy(true);
    runContext(sentences, word)
      .then((r) => {
        state.context = r;
      })
      .catch(failed)
      .finally(() => {
        setBusy(false);
        renderContext();
      });
  });
  wordsForm('wm-form', 'wm-words', 'button.wm-preset', addMapWords);
  byId('wm-analogy-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void solveAnalogy(byId<HTMLInputElement>('wm-analogy').value);
  });
  byId('wm-clear').addEventListener('click', clearWordMap);
  byId('sim-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const a = byId<HTMLInputElement>('sim-a').value;
    const b = byId<HTMLInputElement>('sim-b').value;
    if (!a.trim() || !b.trim()) {
      state.similarity = null;
      renderSimilarity();
      return errorAt('sim-error', 'type a text in both boxes');
    }
    errorAt('sim-error', null);
    state.simBusy = true;
    renderSimilarity();
    runSimilarity(a, b)
      .then((r) => {
        state.similarity = r;
        state.simFocus = null;
      })
      .catch((e: unknown) => {
        state.similarity = null;
        errorAt('sim-error', e);
      })
      .finally(() => {
        state.simBusy = false;
        renderSimilarity();
      });
  });
  byId('download').addEventListener('click', download);
  byId<HTMLInputElement>('load-file').addEventListener('change', (ev) => {
    const input = ev.target as HTMLInputElement;
    const f = input.files?.[0];
    if (f) void load(f).finally(() => (input.value = ''));
  });
  let resize = 0;
  let lastWidth = window.innerWidth;
  window.addEventListener('resize', () => {
    if (window.innerWidth === lastWidth) return;
    lastWidth = window.innerWidth;
    clearTimeout(resize);
    resize = window.setTimeout(() => {
      renderAll();
      renderResponse();
      renderSimilarity();
      renderWordMap();
    }, 150);
  });
}

/** A model loaded into this page's engine (Load model…): from now on it answers every request. */
function useLocalModel(m: LocalModelInfo): void {
  if (!sameModel(state.model, m.info) || state.model?.source !== m.info.source) state.words = [];
  state.model = m.info;
  byId('model-info').textContent = describeModel(m.info);
  const prompt = byId<HTMLTextAreaElement>('prompt');
  prompt.disabled = false;
  prompt.value ||= 'Once upon a time, there was a little bird';
  for (const e of document.querySelectorAll<HTMLInputElement | HTMLButtonElement>(
    '#pca-form input, #pca-form button',
  ))
    e.disabled = false;
  state.canGenerate = !!state.trace && sameModel(state.model, state.trace.model);
  setBusy(false);
  renderAll();
  renderSimilarity();
}

async function boot(): Promise<void> {
  wire();
  wireModelLoader({ status: setStatus, error: showError, loaded: useLocalModel });
  [state.model, state.embedder, state.wordVectors] = await Promise.all([
    api.getModel(),
    api.getEmbedder(),
    api.getWordVectors(),
  ]);
  const info = byId('model-info');
  if (state.model) {
    info.textContent = describeModel(state.model);
    byId<HTMLTextAreaElement>('prompt').value ||= 'The bank of the river was covered in';
  } else {
    info.textContent = api.hasServer
      ? 'the server does not answer: load a model to run it in this browser, or view a saved trace with Load JSON'
      : 'no server (opened from a file): load a model to run it in this browser, or view a saved trace with Load JSON';
    byId<HTMLTextAreaElement>('prompt').disabled = true;
    for (const e of document.querySelectorAll<HTMLInputElement | HTMLButtonElement>(
      '#pca-form input, #pca-form button:not(#pca-clear)',
    ))
      e.disabled = true;
  }
  showEngine();
  setBusy(false);
  renderAll();
  renderSimilarity();
  renderWordMap();
  document.body.dataset.ready = 'true';
}

void boot();
