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
import { loadModel } from '../../src/models/load.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import type { Trace } from '../../src/trace/schema.js';
import { ensureBertFixture } from '../fixtures/make-bert.js';
import { ensureGpt2Fixtures } from '../fixtures/make-gpt2.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test/e2e/artifacts');
const WEB_DIST = join(ROOT, 'web/dist');
const CHROMIUM = '/usr/bin/chromium';
const STORIES = join(ROOT, '../shared/models/stories260K-llama2c/stories260K.bin');
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

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function tokenCount(server: RunningServer, text: string): Promise<number> {
  const r = await fetch(new URL('api/tokenize', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  return ((await r.json()) as { count: number }).count;
}

/** The main walk through the page: run, next ×2, an attention head, and (wide) everything else. */
async function walk(
  server: RunningServer,
  name: string,
  width: number,
  prompt: string,
  full: boolean,
): Promise<string | null> {
  const { page, errors } = await openPage(server.url, width, 800);
  const T = await tokenCount(server, prompt);
  await page.fill('#prompt', prompt);
  await page.click('#run');
  await waitCount(page, '#tokens .tok', T);
  assert.equal(await count(page, '#tokens .tok.gen'), 0);
  assert.ok((await page.locator('#bars .bar').count()) > 0, 'probability bars');
  assert.ok((await page.locator('#lens tbody tr').count()) >= 2, 'logit lens rows');
  assert.ok(await page.locator('#emb-heatmap canvas').isVisible(), 'embedding heatmap');
  assert.ok(await page.locator('#pos-heatmap canvas').isVisible(), 'positional heatmap');
  // No embedding model on this server: the similarity panel says how to load one.
  assert.match((await page.textContent('#sim-model')) ?? '', /No embedding model.*--embedder/);
  assert.ok(await page.locator('#sim-run').isDisabled());

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
  // Focus the last prompt token: its row is outlined, lines drawn from it.
  await page.click(`#tokens .tok[data-index="${T - 1}"]`);
  assert.ok((await count(page, '#att-lines line')) > 0, 'attention lines from the focused token');
  // Causal: row i shows i + 1 visible cells, the rest masked.
  assert.equal(await count(page, '#att-heatmap rect.cell:not(.masked)'), (N * (N + 1)) / 2);

  if (full) {
    // PCA: the default words arrive; add one more.
    await page.waitForFunction(() => document.querySelectorAll('#pca .pt-word').length >= 5);
    await page.fill('#pca-word', 'run');
    await page.click('#pca-add');
    await page.waitForFunction(() => document.querySelectorAll('#pca .pt-word').length >= 6);
    // Context: the same word in two prompts, one cosine per stage.
    await page.click('#ctx-run');
    await page.waitForSelector('#ctx-chart svg path');
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
  }
  await page.locator('#sec-attention').scrollIntoViewIfNeeded();
  await shot(page, name);
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
  }
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
  return saved;
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
  await shot(page, name);
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
}

test('explorer with stories260K (Llama, RoPE): run, next, heads, PCA, context, generate, save, view offline', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  if (!existsSync(STORIES)) return t.skip(`${STORIES} is absent`);
  ensureWebBuilt();
  const server = await startServer(await loadModel(STORIES), {
    host: '127.0.0.1',
    port: 0,
    webRoot: WEB_DIST,
  });
  try {
    const prompt = 'Once upon a time, there was a little bird who lived by the river bank.';
    const saved = await walk(server, 'explorer-stories-1280', 1280, prompt, true);
    await walk(server, 'explorer-stories-400', 400, prompt, false);
    if (saved) await viewOffline(saved, 'explorer-offline-1280');
  } finally {
    await server.close();
  }
});

test('explorer with a tiny GPT-2 (learned positions) at 1280 and 400 px', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip('the GPT-2 fixtures cannot be built (../shared/tokenizers/gpt2 is absent)');
  ensureWebBuilt();
  const server = await startServer(await loadModel(dirs['gpt2-tiny']), {
    host: '127.0.0.1',
    port: 0,
    webRoot: WEB_DIST,
  });
  try {
    const prompt = 'The bank of the river';
    await walk(server, 'explorer-gpt2-1280', 1280, prompt, true);
    await walk(server, 'explorer-gpt2-400', 400, prompt, false);
  } finally {
    await server.close();
  }
});

/** The similarity panel: two texts, the cosine, coloured tokens, the pair heatmap, the strongest pairs. */
async function similarityWalk(
  server: RunningServer,
  embedder: SentenceEmbedder,
  name: string,
  width: number,
): Promise<void> {
  const { page, errors } = await openPage(server.url, width, 900);
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
  await page.hover('#sim-heatmap rect.cell >> nth=0');
  assert.match((await page.textContent('#sim-readout')) ?? '', /^A #0 \[CLS\] × B #0 \[CLS\]: /);
  await page.locator('#sec-similarity').scrollIntoViewIfNeeded();
  await shot(page, name);
  if (width <= 420) {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no sideways scrolling of the page at ${width}px (overflow ${overflow}px)`);
  }
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
}

test('explorer similarity panel with a MiniLM-shaped embedder (glasslm serve --embedder) at 1280 and 400 px', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const bert = await ensureBertFixture();
  if (!bert)
    return t.skip(
      'the MiniLM-shaped fixture cannot be built (../shared/tokenizers/all-MiniLM-L6-v2 is absent)',
    );
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip('the GPT-2 fixtures cannot be built (../shared/tokenizers/gpt2 is absent)');
  ensureWebBuilt();
  const embedder = await loadEmbedder(bert);
  const server = await startServer(await loadModel(dirs['gpt2-tiny']), {
    host: '127.0.0.1',
    port: 0,
    webRoot: WEB_DIST,
    embedder,
  });
  try {
    await similarityWalk(server, embedder, 'explorer-similarity-1280', 1280);
    await similarityWalk(server, embedder, 'explorer-similarity-400', 400);
  } finally {
    await server.close();
  }
});
