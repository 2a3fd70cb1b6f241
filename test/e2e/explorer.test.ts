// The explorer page end to end in real headless Chromium (Debian's /usr/bin/chromium via playwright-core;
// no browser is ever downloaded): start `glasslm serve`'s app on loopback, type a prompt, run it, step
// with "next", force a token, stream "generate", open an attention head, compare contexts, save the
// trace and view it again from file:// with no server; explain a similarity with an embedding model.
// Screenshots go to test/e2e/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { SentenceEmbedder } from '../../src/embed/embedder.js';
import { loadEmbedder } from '../../src/embed/load.js';
import { loadModel } from '../../src/models/load-node.js';
import { startServer, type AppOptions, type RunningServer } from '../../src/server/app.js';
import type { Trace, TraceModelInfo } from '../../src/trace/schema.js';
import { ensureBertFixture } from '../fixtures/make-bert.js';
import { ensureGpt2Fixtures } from '../fixtures/make-gpt2.js';
import { ensureMarianFixtures } from '../fixtures/make-marian.js';
import { alignment } from '../../src/trace/alignment.js';
import { loadWordVectors } from '../../src/word2vec/load-node.js';
import { analogy } from '../../src/word2vec/query.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test/e2e/artifacts');
const WEB_DIST = join(ROOT, 'web/dist');
const CHROMIUM = '/usr/bin/chromium';
const STORIES = join(ROOT, '../shared/models/stories260K-llama2c/stories260K.bin');
const TOK = join(ROOT, '../shared/models/stories260K-llama2c/tok512.bin');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const haveChromium = existsSync(CHROMIUM);
const NO_CHROMIUM = `${CHROMIUM} is missing (apt-get install -y chromium): the browser tests are skipped`;

/** The built page; builds it when a test run did not (npm run test:only). */
function ensureWebBuilt(): void {
  if (existsSync(join(WEB_DIST, 'index.html'))) return;
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--config', 'web/vite.config.mjs'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
}

/** The app on loopback serving the built page for the model at `path`; closed when `use` ends. */
async function withServer(
  path: string,
  extra: Partial<AppOptions>,
  use: (server: RunningServer) => Promise<void>,
): Promise<void> {
  ensureWebBuilt();
  const server = await startServer(await loadModel(path), {
    host: '127.0.0.1',
    port: 0,
    webRoot: WEB_DIST,
    ...extra,
  });
  try {
    await use(server);
  } finally {
    await server.close();
  }
}

let browser: Browser | null = null;
async function getBrowser(): Promise<Browser> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  return browser;
}

test.after(async () => {
  await browser?.close();
});

interface Watched {
  page: Page;
  errors: string[];
}

async function openPage(url: string, width: number, height: number): Promise<Watched> {
  const b = await getBrowser();
  const context = await b.newContext({ viewport: { width, height }, acceptDownloads: true });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Only our own origin may be asked for anything (the page must not reach the network).
    errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (
      !u.startsWith(url.replace(/\/$/, '')) &&
      !u.startsWith('data:') &&
      !u.startsWith('blob:') &&
      !u.startsWith('file:')
    )
      errors.push(`outside request: ${u}`);
  });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

const count = (page: Page, sel: string) => page.locator(sel).count();

async function waitCount(page: Page, sel: string, n: number, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    ([s, k]) => document.querySelectorAll(s as string).length === k,
    [sel, n] as const,
    {
      timeout,
    },
  );
}

/** What the window shows now (e.g. an error where the user is looking). */
async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/**
 * Each stage of the page on its own, as a person scrolling down sees it:
 * test/e2e/artifacts/<name>-<stage>.png (full-page shots are slow: a few stages' cards instead).
 */
async function stageShots(page: Page, name: string, stages = STAGES): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const id of stages) {
    const card = page.locator(`#${id}`);
    if (await card.isHidden()) continue;
    await card.screenshot({ path: join(ARTIFACTS, `${name}-${id.replace(/^sec-/, '')}.png`) });
  }
}

const STAGES = [
  'sec-tokens',
  'sec-embeddings',
  'sec-positions',
  'sec-attention',
  'sec-context',
  'sec-layers',
  'sec-output',
  'sec-similarity',
  'sec-wordmap',
];

async function tokenCount(server: RunningServer, text: string): Promise<number> {
  const r = await fetch(new URL('api/tokenize', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return ((await r.json()) as { count: number }).count;
}

/** How many tokens each word is split into by the server's tokenizer (its PCA point averages them). */
async function wordPieces(server: RunningServer, words: string[]): Promise<number[]> {
  const r = await fetch(new URL('api/embeddings', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ words }),
  });
  return ((await r.json()) as { words: Array<{ tokens: unknown[] }> }).words.map((w) => w.tokens.length);
}

/** Each stage opens with what it does, what to look at and one thing to try, in plain words. */
async function checkIntros(page: Page): Promise<void> {
  for (const id of STAGES) {
    const card = page.locator(`#${id}`);
    if (await card.isHidden()) continue;
    for (const part of ['what', 'look', 'try']) {
      const text = (await card.locator(`.intro .intro-${part}`).textContent()) ?? '';
      assert.ok(text.trim().length > 30, `#${id}: its introduction says ${part}: ${JSON.stringify(text)}`);
    }
  }
}

/** A term is explained where it appears: its <dfn> sits in a sentence that goes on to say what it is. */
async function checkTerm(page: Page, stage: string, term: string): Promise<void> {
  const dfn = page.locator(`#${stage} dfn[data-term="${term}"]`);
  assert.equal(await dfn.count(), 1, `"${term}" is defined in #${stage}`);
  assert.ok(await dfn.isVisible(), `"${term}" is visible in #${stage}`);
  const around = await dfn.evaluate((e) => e.parentElement?.textContent ?? '');
  const own = (await dfn.textContent()) ?? '';
  assert.ok(
    around.length > own.length + 60,
    `"${term}" comes with its explanation: ${JSON.stringify(around)}`,
  );
}

/** A colour scale with a bar and numbers on it under the heatmap in `box`. */
async function checkLegend(page: Page, box: string): Promise<void> {
  const legend = page.locator(`${box} .color-legend`).first();
  assert.ok(await legend.isVisible(), `${box} has a colour legend`);
  assert.ok(
    ((await legend.getAttribute('data-title')) ?? '').length > 5,
    `${box}'s legend says what colour means`,
  );
  assert.ok((await legend.locator('.tick text').count()) >= 2, `${box}'s legend has values on it`);
  assert.ok((await legend.locator('stop').count()) >= 2, `${box}'s legend has a colour bar`);
}

interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The boxes of everything matching `sel` inside `container`, and the container's visible box. */
async function boxes(page: Page, container: string, sel: string): Promise<{ outer: Rect; inner: Rect[] }> {
  // No named functions in here: tsx would wrap them in a helper the page does not have.
  return page
    .locator(container)
    .first()
    .evaluate((c, s) => {
      const inner = Array.from(c.querySelectorAll(s))
        .filter((e) => e.getAttribute('display') !== 'none')
        .map((e) => e.getBoundingClientRect())
        .filter((b) => b.right > b.left)
        .map((b) => ({ left: b.left, top: b.top, right: b.right, bottom: b.bottom }));
      // The visible area: the client box (without scroll bars) when the container scrolls.
      const o = c.getBoundingClientRect();
      return {
        outer: {
          left: o.left + c.clientLeft,
          top: o.top + c.clientTop,
          right: o.left + c.clientLeft + (c.clientWidth || o.width),
          bottom: o.top + c.clientTop + (c.clientHeight || o.height),
        },
        inner,
      };
    }, sel);
}

/** Nothing matching `sel` is cut off by `container` (its box lies inside the container's visible box). */
async function checkInside(page: Page, container: string, sel: string, min = 1): Promise<void> {
  const { outer, inner } = await boxes(page, container, sel);
  assert.ok(inner.length >= min, `${container} ${sel}: ${inner.length} found`);
  for (const b of inner) {
    const inside =
      b.left >= outer.left - 1 &&
      b.top >= outer.top - 1 &&
      b.right <= outer.right + 1 &&
      b.bottom <= outer.bottom + 1;
    assert.ok(inside, `${container} clips ${sel} at ${JSON.stringify(b)} (visible ${JSON.stringify(outer)})`);
  }
}

/** The PCA's labels: none on top of another, all inside the plot. */
async function checkPcaLabels(page: Page, chart = '#pca'): Promise<void> {
  await checkInside(page, `${chart} svg`, '.pt text', 3);
  const { inner } = await boxes(page, `${chart} svg`, '.pt text');
  for (let i = 0; i < inner.length; i++)
    for (let j = i + 1; j < inner.length; j++) {
      const a = inner[i];
      const b = inner[j];
      const ox = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const oy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      assert.ok(ox <= 1 || oy <= 1, `PCA labels overlap: ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    }
}

/** An error shows right under the control that caused it, on screen (not somewhere far above). */
async function checkErrorBeside(page: Page, error: string, control: string, says: RegExp): Promise<void> {
  await page.waitForSelector(`${error}:not([hidden])`);
  assert.match((await page.textContent(error)) ?? '', says);
  const e = (await page.locator(error).boundingBox())!;
  const c = (await page.locator(control).boundingBox())!;
  const gap = e.y - (c.y + c.height);
  assert.ok(gap >= -1 && gap < 40, `${error} is ${gap}px under ${control}`);
  const vh = page.viewportSize()!.height;
  const top = await page.locator(error).evaluate((el) => el.getBoundingClientRect().top);
  assert.ok(top >= 0 && top + e.height <= vh, `${error} is on screen (top ${top}px of ${vh}px)`);
}

/** The main walk through the page: run, next ×2, an attention head, and (full) everything else. */
async function walk(
  server: RunningServer,
  name: string,
  width: number,
  prompt: string,
  full: boolean,
  stages = STAGES,
): Promise<string | null> {
  const { page, errors } = await openPage(server.url, width, 800);
  const T = await tokenCount(server, prompt);
  const model = (await (await fetch(new URL('api/model', server.url))).json()) as TraceModelInfo;
  await page.fill('#prompt', prompt);
  await page.click('#run');
  await waitCount(page, '#tokens .tok', T);
  assert.equal(await count(page, '#tokens .tok.gen'), 0);
  assert.ok((await page.locator('#bars .bar').count()) > 0, 'probability bars');
  assert.ok(await page.locator('#emb-heatmap canvas').isVisible(), 'embedding heatmap');
  assert.ok(await page.locator('#pos-heatmap canvas').isVisible(), 'positional heatmap');
  // No embedding model on this server: the similarity panel says how to load one.
  assert.match((await page.textContent('#sim-model')) ?? '', /No embedding model on this server.*--embedder/);
  assert.ok(await page.locator('#sim-run').isDisabled());
  // Only the prompt's tokens on the PCA: no words the user did not add.
  assert.equal(await count(page, '#pca .pt-word'), 0, 'no words on the PCA before the user adds some');

  // Every heatmap says what its colours mean; the head norms are labelled by head; the residual
  // stream's "entering" and "leaving" lines have different colours.
  for (const box of ['#emb-heatmap', '#pos-heatmap', '#att-heatmap', '#chart-heads', '#lens-legend'])
    await checkLegend(page, box);
  const headCols = await page.locator('#chart-heads .heat-col').allTextContents();
  assert.equal(headCols[0], 'h0', 'head labels over the head-norm heatmap');
  if (width >= 1000) assert.equal(headCols.length, model.nHeads, 'one label per head');
  const strokes = await page
    .locator('#chart-resid path[stroke-width="2"]')
    .evaluateAll((ps) => ps.map((p) => p.getAttribute('stroke')));
  assert.equal(strokes.length, 2);
  assert.notEqual(strokes[0], strokes[1], 'entering and leaving drawn in different colours');
  await checkIntros(page);
  await checkTerm(page, 'sec-layers', 'residual stream');
  await checkTerm(page, 'sec-output', 'logit lens');
  if (model.positional !== 'learned') await checkTerm(page, 'sec-positions', 'RoPE θ');

  // The logit lens: one row per layer, then the output, which equals the last layer's (and says why).
  const lensRows = page.locator('#lens tbody tr');
  assert.equal(await lensRows.count(), model.nLayers + 1);
  const cells = (i: number) => lensRows.nth(i).locator('.lens-tok').allTextContents();
  assert.deepEqual(await cells(model.nLayers), await cells(model.nLayers - 1), 'output row = last layer row');
  assert.match(
    (await page.textContent('#lens-note')) ?? '',
    /final norm and the output head applied to the last layer/,
  );

  // "next" twice: the response grows by one token each time, and so does the attention matrix.
  const before = (await page.textContent('#response')) ?? '';
  await page.click('#next');
  await waitCount(page, '#tokens .tok.gen', 1);
  await page.waitForFunction(() => !document.body.classList.contains('busy'));
  await page.click('#next');
  await waitCount(page, '#tokens .tok.gen', 2);
  await page.waitForFunction(() => !document.body.classList.contains('busy'));
  assert.equal(await count(page, '#response .gen-token'), 2);
  const after = (await page.textContent('#response')) ?? '';
  assert.ok(
    after.length > before.replace(/ …press Next or Generate$/, '').length,
    `response grew: ${JSON.stringify(after)}`,
  );

  // Open a head: layer 1, head 1 from the grid; the heatmap is N×N cells (N = prompt + generated).
  const N = T + 2;
  await page.selectOption('#layer', '1');
  await page.click('#head-grid .head-tile[data-head="1"]');
  assert.equal(await page.inputValue('#head'), '1');
  await waitCount(page, '#att-heatmap rect.cell', N * N);
  assert.equal(await page.getAttribute('#att-heatmap', 'data-n'), String(N));
  // Nothing of the query×key matrix is cut off by its box: every cell and every label is inside.
  await checkInside(page, '#att-heatmap .att-scroll', 'rect.cell', N * N);
  await checkInside(page, '#att-heatmap .att-scroll', 'text.row-label', N);
  await checkInside(page, '#att-heatmap .att-scroll', 'text.col-label', 0);
  await checkLegend(page, '#att-heatmap');
  await checkInside(page, '#att-lines .lines-scroll', 'text', 2 * N);
  // Focus the last prompt token: its row is outlined, lines drawn from it.
  await page.click(`#tokens .tok[data-index="${T - 1}"]`);
  assert.ok((await count(page, '#att-lines line')) > 0, 'attention lines from the focused token');
  // Causal: row i shows i + 1 visible cells, the rest masked.
  assert.equal(await count(page, '#att-heatmap rect.cell:not(.masked)'), (N * (N + 1)) / 2);

  // A generated token's logit lens: traced on demand, its own rows and output.
  await page.click(`#tokens .tok[data-index="${T + 1}"]`);
  await page.waitForFunction(() =>
    /\(generated\)/.test(document.querySelector('#lens-where')?.textContent ?? ''),
  );
  await waitCount(page, '#lens tbody tr', model.nLayers + 1);
  assert.match((await page.textContent('#lens-note')) ?? '', /generated token/);

  if (full) {
    // PCA: a preset set of words, then one more; a word split into several tokens is a ring, and said so.
    const motion = ['bound', 'jump', 'leap', 'hop', 'skip'];
    await page.click('button.preset[data-words^="bound"]');
    await page.waitForFunction(() => document.querySelectorAll('#pca .pt-word').length >= 5);
    await page.fill('#pca-word', 'run');
    await page.click('#pca-add');
    await page.waitForFunction(() => document.querySelectorAll('#pca .pt-word').length >= 6);
    const split = (await wordPieces(server, [...motion, 'run'])).filter((n) => n > 1).length;
    assert.equal(await count(page, '#pca .pt-word.pt-ring'), split, 'each split word drawn as a ring');
    const caption = (await page.textContent('#pca .caption')) ?? '';
    assert.match(caption, /␣ is a space/);
    if (split) assert.match(caption, /mean of \d+ tokens/);
    await checkPcaLabels(page);
    // Context: the same word in three sentences, one line per pair, a cosine per stage.
    await page.click('#ctx-run');
    await page.waitForSelector('#ctx-chart svg path');
    assert.equal(
      await count(page, '#ctx-chart svg path[stroke-width="2"]'),
      3,
      'a line per pair, no static line',
    );
    // Force the second most likely token, then stream 3 more.
    const forcedId = await page.getAttribute('#bars .bar >> nth=1', 'data-id');
    await page.click('#bars .bar >> nth=1');
    await waitCount(page, '#tokens .tok.gen', 3);
    await page.waitForFunction(() => !document.body.classList.contains('busy'));
    const lastId = await page.locator('#tokens .tok.gen').last().getAttribute('title');
    assert.match(lastId ?? '', new RegExp(`id ${forcedId} `));
    await page.fill('#gen-steps', '3');
    await page.click('#generate');
    await page.waitForFunction(
      () =>
        !document.body.classList.contains('busy') &&
        document.querySelectorAll('#tokens .tok.gen').length >= 4,
    );
    await page.click('#tokens .tok.gen >> nth=-1');
  } else {
    await page.click('button.preset[data-words^="cat"]');
    await page.waitForFunction(() => document.querySelectorAll('#pca .pt-word').length >= 5);
    await checkPcaLabels(page);
  }
  await stageShots(page, name, stages);
  if (width <= 420) {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no sideways scrolling of the page at ${width}px (overflow ${overflow}px)`);
  }

  let saved: string | null = null;
  if (full) {
    const download = page.waitForEvent('download');
    await page.click('#download');
    const d = await download;
    saved = join(ARTIFACTS, `${name}-trace.json`);
    await d.saveAs(saved);
    const tr = JSON.parse(readFileSync(saved, 'utf8')) as Trace;
    assert.equal(tr.tokens.length, T);
    assert.ok(tr.steps.length >= 4, 'the saved trace carries the generated steps');
    await errorsAndStaleResults(page, model, errors);
  }
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
  return saved;
}

/**
 * Errors appear beside the control that caused them, on screen, and what they make stale goes: a word
 * missing from the prompts clears the old comparison; a prompt longer than the context clears the old
 * trace. Then a model loaded into the page: the similarity panel says the in-page engine has no
 * embedding model (not "this server").
 */
async function errorsAndStaleResults(page: Page, model: TraceModelInfo, errors: string[]): Promise<void> {
  await page.locator('#sec-context').scrollIntoViewIfNeeded();
  assert.ok(await page.locator('#ctx-chart svg').isVisible(), 'a comparison is shown');
  await page.fill('#ctx-word', 'zebra');
  await page.click('#ctx-run');
  await checkErrorBeside(page, '#ctx-error', '#ctx-form', /"zebra" does not occur in sentence 1/);
  // the server's 400 answer, which the browser also logs as a console error
  const i400 = errors.findIndex((e) => /status of 400/.test(e));
  assert.ok(i400 >= 0, 'the missing word was a 400');
  errors.splice(i400, 1);
  assert.equal(await count(page, '#ctx-chart svg'), 0, 'the old comparison is cleared');
  assert.ok(await page.locator('#error').isHidden(), 'no error at the top of the page');
  await shot(page, 'explorer-error-context');

  const tooLong = 'the little bird sang '.repeat(Math.ceil(model.contextLength / 3));
  await page.fill('#prompt', tooLong);
  await page.click('#run');
  await checkErrorBeside(
    page,
    '#error',
    '#prompt-form',
    new RegExp(`This prompt is \\d+ tokens; the model reads at most ${model.contextLength} at once`),
  );
  assert.ok(await page.locator('#stages').isHidden(), "the previous prompt's trace is cleared");
  await shot(page, 'explorer-error-prompt');

  await page.setInputFiles('#load-model', [STORIES, TOK]);
  await page.waitForFunction(
    () => document.querySelector('#engine')?.getAttribute('data-engine') === 'local',
    null,
    {
      timeout: 60_000,
    },
  );
  const sim = (await page.textContent('#sim-model')) ?? '';
  assert.doesNotMatch(sim, /on this server/);
  assert.match(sim, /loaded into this page is a text generator.*embedding model.*glasslm serve/);
  await stageShots(page, 'explorer-in-page-engine', ['sec-similarity']);
}

/** A saved trace opened in the page from disk (file://), with no server at all. */
async function viewOffline(saved: string, name: string): Promise<void> {
  const url = pathToFileURL(join(WEB_DIST, 'index.html')).href;
  const { page, errors } = await openPage(url, 1280, 800);
  assert.match((await page.textContent('#model-info')) ?? '', /no server/);
  assert.ok(await page.locator('#sec-similarity').isHidden(), 'no similarity panel without a server');
  const tr = JSON.parse(readFileSync(saved, 'utf8')) as Trace;
  await page.setInputFiles('#load-file', saved);
  const N = tr.tokens.length + tr.steps.length;
  await waitCount(page, '#tokens .tok', N);
  await waitCount(page, '#att-heatmap rect.cell', N * N);
  assert.ok(await page.locator('#next').isDisabled(), 'no generating without a server');
  // A generated token's lens needs the model: the page says so instead of showing another token's.
  await page.click('#tokens .tok.gen >> nth=0');
  assert.equal(await count(page, '#lens tbody tr'), 0);
  assert.match((await page.textContent('#lens-note')) ?? '', /needs the model that made it/);
  await stageShots(page, name, ['sec-output']);
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
}

test('explorer with stories260K (Llama, RoPE): run, next, heads, PCA, context, generate, save, errors, view offline', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  if (!existsSync(STORIES)) return t.skip(`${STORIES} is absent`);
  await withServer(STORIES, {}, async (server) => {
    const prompt = 'Once upon a time, there was a little bird who lived by the river bank.';
    const saved = await walk(server, 'explorer-stories-1280', 1280, prompt, true);
    await walk(server, 'explorer-stories-420', 420, prompt, false);
    if (saved) await viewOffline(saved, 'explorer-offline-1280');
  });
});

test('explorer with a tiny GPT-2 (learned positions) at 1280 and 420 px', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip('the GPT-2 fixtures cannot be built (../shared/tokenizers/gpt2 is absent)');
  await withServer(dirs['gpt2-tiny'], {}, async (server) => {
    const prompt = 'The bank of the river';
    // Stories260K's walk shoots every stage; here only what differs (learned positions).
    await walk(server, 'explorer-gpt2-1280', 1280, prompt, false, ['sec-positions']);
    await walk(server, 'explorer-gpt2-420', 420, prompt, false, ['sec-positions']);
  });
});

test('explorer behind an API key: the address glasslm serve prints (#key=...) lets the page in', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip('the GPT-2 fixtures cannot be built (../shared/tokenizers/gpt2 is absent)');
  await withServer(dirs['gpt2-tiny'], { apiKey: 'sesame-42' }, async (server) => {
    const b = await getBrowser();
    // Without the key the page loads but the API refuses it: no model is named.
    const bare = await (await b.newContext()).newPage();
    await bare.goto(server.url);
    await bare.waitForFunction(
      () => !/connecting/.test(document.getElementById('model-info')?.textContent ?? ''),
    );
    assert.doesNotMatch((await bare.textContent('#model-info')) ?? '', /gpt2/i);
    // With it, the model is named, the key has left the address bar, and a prompt runs.
    const page = await (await b.newContext()).newPage();
    await page.goto(`${server.url}#key=sesame-42`);
    await page.waitForFunction(() => /gpt2/i.test(document.getElementById('model-info')?.textContent ?? ''));
    assert.doesNotMatch(page.url(), /sesame/);
    const traced = page.waitForResponse((r) => r.url().endsWith('/api/trace'));
    await page.fill('#prompt', 'The bank of the river');
    await page.click('#run');
    assert.equal((await traced).status(), 200);
  });
});

test('explorer with an encoder-decoder (Marian): the alignment view, its layer/head picker, hovering an output token', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const dirs = await ensureMarianFixtures();
  if (!dirs)
    return t.skip('the Marian fixtures cannot be built (../shared/tokenizers/opus-mt-en-mg is absent)');
  await withServer(dirs['marian-tiny'], {}, async (server) => {
    const { page, errors } = await openPage(server.url, 1280, 900);
    await page.waitForFunction(() =>
      /marian/i.test(document.getElementById('model-info')?.textContent ?? ''),
    );
    const traced = page.waitForResponse((r) => r.url().endsWith('/api/trace'));
    await page.fill('#prompt', 'The house is small.');
    await page.click('#run');
    const trace = (await (await traced).json()) as Trace;
    const S = trace.source!.tokens.length;
    const N = trace.steps.length;
    assert.equal(S, 6);
    assert.ok(N > 0, 'the translation is recorded with the trace');
    await page.waitForSelector('#sec-alignment:not([hidden]) .align-table');
    assert.equal(await count(page, '.align-src'), S);
    // section 1 shows the source the encoder reads before the decoder's tokens
    assert.equal(await count(page, '#tokens .tok.src'), S);
    assert.match((await page.textContent('#tokens-summary')) ?? '', /6 source tokens/);
    assert.equal(await count(page, '.align-row'), N);
    assert.equal(await count(page, '.align-cell'), N * S);
    // the layer picker lists the mean and every layer; the head picker the mean and every head
    assert.equal(await count(page, '#align-layer option'), 1 + trace.layers.length);
    assert.equal(await count(page, '#align-head option'), 1 + trace.model.nHeads);
    // hovering output token 1 highlights its row, and along the top what it attended to (sums to 1)
    await page.hover('.align-row[data-k="1"] th');
    await page.waitForSelector('.align-row[data-k="1"].active');
    assert.equal(await count(page, '.align-row.active'), 1);
    const shown = await page.$$eval('.align-src', (cs) =>
      cs.map((c) => Number((c as HTMLElement).dataset.weight)),
    );
    const want = alignment(trace, trace.steps)!.weights[1];
    shown.forEach((w, j) => assert.ok(Math.abs(w - want[j]) < 1e-6, `source ${j}: ${w} vs ${want[j]}`));
    assert.match((await page.textContent('#align-readout')) ?? '', /output #1 .* attended to #\d/);
    // one layer and head: the cells and the highlight follow
    await page.selectOption('#align-layer', '1');
    await page.selectOption('#align-head', '2');
    await page.hover('.align-row[data-k="0"] th');
    await page.waitForSelector('.align-row[data-k="0"].active');
    const one = await page.$$eval('.align-src', (cs) =>
      cs.map((c) => Number((c as HTMLElement).dataset.weight)),
    );
    alignment(trace, trace.steps, 1, 2)!.weights[0].forEach((w, j) => assert.ok(Math.abs(one[j] - w) < 1e-6));
    // the sinusoidal positions are drawn as vectors, one row per source token
    assert.match((await page.textContent('#pos-explain')) ?? '', /Sinusoidal positions/);
    await page
      .locator('#sec-alignment')
      .screenshot({ path: join(ARTIFACTS, 'explorer-marian-alignment.png') });
    // beams: the picker translates again by beam search; the tree is drawn, the winner's path bold, and the
    // alignment shows the winner (the hypothesis the trace recorded as its steps)
    assert.equal(await page.isHidden('#beam-tree'), true);
    const beamTraced = page.waitForResponse((r) => r.url().endsWith('/api/trace'));
    await page.selectOption('#align-beams', '3');
    const bt = (await (await beamTraced).json()) as Trace;
    assert.ok(bt.beams && bt.beams.steps.length > 0, 'the trace holds the tree');
    await page.waitForSelector('#beam-tree:not([hidden]) .beam-svg');
    const candidates = bt.beams.steps.reduce((n, st) => n + st.candidates.length, 0);
    assert.equal(await count(page, '.beam-node'), candidates);
    assert.equal(
      await count(page, '.beam-node.finished'),
      bt.beams.steps.flatMap((st) => st.candidates).filter((c) => c.fate === 'finished').length,
    );
    // the winner's path: one node per step up to where it finished
    assert.equal(await count(page, '.beam-node.on-path'), bt.beams.hypotheses[0].ids.length);
    assert.equal(await count(page, '.align-row'), bt.steps.length);
    assert.deepEqual(
      bt.steps.map((st) => st.token.id),
      bt.beams.hypotheses[0].ids,
    );
    assert.equal(await page.inputValue('#align-beams'), '3');
    await page.hover('.beam-node[data-step="0"][data-rank="1"]');
    assert.match((await page.textContent('#beam-tree .readout')) ?? '', /step 0 · rank 2/);
    await page.locator('#sec-alignment').screenshot({ path: join(ARTIFACTS, 'explorer-marian-beams.png') });
    assert.deepEqual(errors, [], 'no console errors');
    await page.context().close();
  });
});

/** The similarity panel: two texts, the cosine, coloured tokens, the pair heatmap, the strongest pairs. */
async function similarityWalk(
  server: RunningServer,
  embedder: SentenceEmbedder,
  name: string,
): Promise<void> {
  const { page, errors } = await openPage(server.url, 1280, 900);
  const a = 'A man is playing a guitar on the stage.';
  const b = 'Someone plays music in a concert.';
  const na = embedder.inputIds(a).length;
  const nb = embedder.inputIds(b).length;
  assert.ok(await page.locator('#sec-similarity').isVisible());
  assert.match((await page.textContent('#sim-model')) ?? '', /384 · mean pooling · normalised/);
  await page.fill('#sim-a', a);
  await page.fill('#sim-b', b);
  await page.click('#sim-run');
  await waitCount(page, '#sim-tokens-a .sim-tok', na);
  await waitCount(page, '#sim-tokens-b .sim-tok', nb);
  const cos = embedder.similarity(a, b);
  assert.equal(await page.textContent('#sim-cos'), `cosine ${cos.toFixed(4)}`);
  // [CLS] and [SEP] shown, marked; a text's token contributions sum to the cosine.
  assert.equal(await count(page, '#sim-tokens-a .sim-tok.special'), 2);
  assert.equal(await page.locator('#sim-tokens-a .sim-tok .tok-text').first().textContent(), '[CLS]');
  const contributions = await page
    .locator('#sim-tokens-b .sim-tok')
    .evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.contribution)));
  const total = contributions.reduce((s, x) => s + x, 0);
  assert.ok(Math.abs(total - cos) < 1e-5, `B's chips sum to ${total}, the cosine is ${cos}`);
  // Every chip is coloured on the diverging scale (not the page's default token palette).
  const bg = await page
    .locator('#sim-tokens-a .sim-tok >> nth=2')
    .evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.match(bg, /^rgb\(/);
  // The pair heatmap: one cell per (A token, B token); the strongest pairs listed.
  await waitCount(page, '#sim-heatmap rect.cell', na * nb);
  assert.equal(await count(page, '#sim-pairs .sim-pair'), 12);
  // Click a token of A: B is coloured by its pair terms with it, its heatmap row outlined.
  await page.click('#sim-tokens-a .sim-tok >> nth=4');
  assert.match((await page.textContent('#sim-focus')) ?? '', /^B coloured by its pair terms with A #4/);
  assert.match(
    (await page.getAttribute('#sim-tokens-b .sim-tok >> nth=1', 'title')) ?? '',
    /pair term with A #4/,
  );
  assert.equal(await count(page, '#sim-heatmap .focus-outline'), 1);
  // The pair heatmap and the chips have colour legends; no label or cell of the heatmap is cut off.
  await checkLegend(page, '#sim-heatmap');
  await checkLegend(page, '#sim-note');
  await checkInside(page, '#sim-heatmap .att-scroll', 'rect.cell', na * nb);
  await checkInside(page, '#sim-heatmap .att-scroll', 'text', na);
  await checkIntros(page);
  await page.hover('#sim-heatmap rect.cell >> nth=0');
  assert.match((await page.textContent('#sim-readout')) ?? '', /^A #0 \[CLS\] × B #0 \[CLS\]: /);
  await stageShots(page, `${name}-1280`, ['sec-similarity']);
  // The same panel on a phone: redrawn to the width, nothing cut off, no sideways scrolling.
  await page.setViewportSize({ width: 420, height: 900 });
  await page.waitForFunction(
    () => (document.querySelector('#sim-heatmap svg')?.getBoundingClientRect().width ?? 999) < 420,
  );
  await checkInside(page, '#sim-heatmap .att-scroll', 'rect.cell', na * nb);
  await checkInside(page, '#sim-heatmap .att-scroll', 'text', na);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling of the page at 420px (overflow ${overflow}px)`);
  await stageShots(page, `${name}-420`, ['sec-similarity']);
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
}

test('explorer similarity panel with a MiniLM-shaped embedder (glasslm serve --embedder) at 1280 and 420 px', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const bert = await ensureBertFixture();
  if (!bert)
    return t.skip(
      'the MiniLM-shaped fixture cannot be built (../shared/tokenizers/all-MiniLM-L6-v2 is absent)',
    );
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip('the GPT-2 fixtures cannot be built (../shared/tokenizers/gpt2 is absent)');
  const embedder = await loadEmbedder(bert);
  await withServer(dirs['gpt2-tiny'], { embedder }, async (server) => {
    await similarityWalk(server, embedder, 'explorer-similarity');
  });
});

test('explorer word map (the bundled KJV word2vec) and static vs contextual with the bundled model', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const path = join(ROOT, 'models/kjv-word2vec/vectors.bin');
  const vectors = await loadWordVectors(path);
  await withServer(
    join(ROOT, 'models/default'),
    { wordVectors: { vectors, source: path } },
    async (server) => {
      const { page, errors } = await openPage(server.url, 1280, 900);
      assert.ok(
        await page.locator('#sec-wordmap').isVisible(),
        'the word map is shown: the server has vectors',
      );
      assert.match(
        (await page.textContent('#wm-source')) ?? '',
        /vectors\.bin: 5,332 words × 100 dimensions/,
      );
      await checkIntros(page);
      // six words, then the analogy: its four words join them, two arrows a→b and c→d
      await page.click('button.wm-preset[data-words^="sheep"]');
      await waitCount(page, '#wordmap .pt', 6);
      await page.click('#wm-solve');
      await waitCount(page, '#wordmap line.arrow', 2);
      await waitCount(page, '#wordmap .pt', 10);
      const best = analogy(vectors, 'man', 'king', 'woman')[0];
      assert.equal(best.word, 'queen');
      assert.match(
        (await page.textContent('#wm-answer')) ?? '',
        /^man : king :: woman : queen \(score 0\.\d+; then /,
      );
      assert.equal(await count(page, '#wordmap .pt-ring'), 1, 'the answer is a ring');
      assert.match((await page.textContent('#wordmap .pt-ring text')) ?? '', /^queen \(0\.\d\d\)$/);
      const arrowColours = await page.$$eval('#wordmap line.arrow', (ls) =>
        ls.map((l) => l.getAttribute('stroke')),
      );
      assert.equal(arrowColours[0], arrowColours[1], 'the two arrows of an analogy share a colour');
      await checkPcaLabels(page, '#wordmap');
      await stageShots(page, 'explorer-wordmap', ['sec-wordmap']);
      // on a phone: redrawn to the width, no sideways scrolling
      await page.setViewportSize({ width: 420, height: 900 });
      await page.waitForFunction(
        () => (document.querySelector('#wordmap svg')?.getBoundingClientRect().width ?? 999) < 420,
      );
      assert.equal(await count(page, '#wordmap line.arrow'), 2);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `no sideways scrolling at 420px (overflow ${overflow}px)`);
      await stageShots(page, 'explorer-wordmap-420', ['sec-wordmap']);
      await page.setViewportSize({ width: 1280, height: 900 });
      // an unknown word: named beside the form, the map kept
      await page.fill('#wm-words', 'tractor');
      await page.click('#wm-add');
      await checkErrorBeside(page, '#wm-error', '#wm-analogy-form', /not in the vocabulary .*"tractor"/);
      assert.equal(await count(page, '#wordmap .pt'), 10);
      // the browser logs the 404 answer itself as a console error: that one is expected
      const i404 = errors.findIndex((e) => /status of 404/.test(e));
      assert.ok(i404 >= 0, 'the unknown word was a 404');
      errors.splice(i404, 1);

      // static vs contextual: three sentences → three pairs and the static line at 1
      await page.fill('#prompt', 'the bank of the river');
      await page.click('#run');
      await page.waitForSelector('#stages:not([hidden])');
      await page.click('#ctx-run');
      await page.waitForSelector('#ctx-chart svg path');
      await page.waitForFunction(() => !document.body.classList.contains('busy'));
      assert.equal(await count(page, '#ctx-chart svg path[stroke-width="2"]'), 4, '3 pairs + word2vec');
      assert.equal(
        await count(page, '#ctx-chart svg path[stroke-dasharray]'),
        1,
        'the static line is dashed',
      );
      const legend = (await page.textContent('#ctx-chart .legend')) ?? '';
      assert.match(legend, /S1·S2.*S1·S3.*S2·S3.*word2vec/);
      const note = (await page.textContent('#ctx-note')) ?? '';
      assert.match(note, /sub-word tokens: its vector is the mean/);
      assert.match(note, /its line stays at 1/);
      await stageShots(page, 'explorer-contextual', ['sec-context']);
      assert.deepEqual(errors, [], 'no console errors');
      await page.context().close();
    },
  );
});
