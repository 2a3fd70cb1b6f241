// The explorer with the engine running in the browser, no server at all, in real headless Chromium
// (Debian's /usr/bin/chromium via playwright-core): open web/dist/index.html from file://, load
// stories260K.bin + tok512.bin through "Load model…", run a prompt, see tokens and attention, press
// "next" and see a token appended — the one Node's engine picks. Then a GGUF and a tiny GPT-2 folder
// replace it. Then the page as glasslm serve sends it (cross-origin isolated): the same model runs on
// Web Worker threads over a shared memory. Screenshots go to test/e2e/artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadModel } from '../../src/models/load-node.js';
import type { LanguageModel } from '../../src/models/model.js';
import { tokenizeAnswer } from '../../src/server/answers.js';
import { startServer } from '../../src/server/app.js';
import { ensureGpt2Fixtures } from '../fixtures/make-gpt2.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test/e2e/artifacts');
const PAGE = join(ROOT, 'web/dist/index.html');
const CHROMIUM = '/usr/bin/chromium';
const BIN = join(ROOT, '../shared/models/stories260K-llama2c/stories260K.bin');
const TOK = join(ROOT, '../shared/models/stories260K-llama2c/tok512.bin');
const Q8 = join(ROOT, '../shared/models/stories260K-gguf/tinyllamas-stories-260k-q8_0.gguf');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
];

const haveChromium = existsSync(CHROMIUM);
const NO_CHROMIUM = `${CHROMIUM} is missing (apt-get install -y chromium): the browser tests are skipped`;

/** The built page, with the in-browser engine; (re)builds it when absent or older than "Load model…". */
function ensureWebBuilt(): void {
  if (existsSync(PAGE) && readFileSync(PAGE, 'utf8').includes('id="load-model"')) return;
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--config', 'web/vite.config.mjs'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
}

let browser: Browser | null = null;
test.after(async () => {
  await browser?.close();
});

/** The page from file://, watched: console errors, page errors, and any request that is not local. */
async function openOffline(width = 1280, height = 800): Promise<{ page: Page; errors: string[] }> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('request', (r) => {
    const u = r.url();
    if (!/^(file|data|blob):/.test(u)) errors.push(`outside request: ${u}`);
  });
  await page.goto(pathToFileURL(PAGE).href);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

async function waitCount(page: Page, sel: string, n: number, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ([s, k]) => document.querySelectorAll(s as string).length === k,
    [sel, n] as const,
    { timeout },
  );
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const idle = (page: Page) =>
  page.waitForFunction(() => !document.body.classList.contains('busy'), undefined, { timeout: 60_000 });

/** Loads files through "Load model…" and waits until the page says the browser's engine runs them. */
async function loadFiles(page: Page, files: string[], family: string): Promise<void> {
  await page.setInputFiles('#load-model', files);
  await page.waitForFunction(
    (f) =>
      document.querySelector('#engine')?.getAttribute('data-engine') === 'local' &&
      !document.body.classList.contains('loading-model') &&
      (document.querySelector('#model-info')?.textContent ?? '').startsWith(f),
    family,
    { timeout: 60_000 },
  );
  // WebAssembly SIMD kernels when the build carried them (npm run build:wasm), else the reference ones.
  assert.match((await page.textContent('#engine')) ?? '', /in this browser \((wasm|reference) kernels/);
  assert.ok(await page.locator('#error').isHidden(), (await page.textContent('#error')) ?? '');
}

/** Runs a prompt (greedy), checks tokens, bars and the attention heatmap, then "next": one token appended. */
async function runAndStep(page: Page, node: LanguageModel, prompt: string): Promise<void> {
  const T = tokenizeAnswer(node, prompt).count;
  await page.fill('#prompt', prompt);
  await page.click('#run');
  await waitCount(page, '#tokens .tok', T);
  await idle(page);
  await page.fill('#temperature', '0');
  assert.ok((await page.locator('#bars .bar').count()) > 0, 'probability bars');
  assert.ok(await page.locator('#emb-heatmap canvas').isVisible(), 'embedding heatmap');
  await waitCount(page, '#att-heatmap rect.cell', T * T);
  // The same next-token distribution as Node's engine computes.
  const expected = node.trace(prompt, { topK: 3 }).output.top[0];
  assert.equal(await page.getAttribute('#bars .bar >> nth=0', 'data-id'), String(expected.id));

  await page.click('#next');
  await waitCount(page, '#tokens .tok.gen', 1);
  await idle(page);
  assert.equal(await page.locator('#response .gen-token').count(), 1);
  // Greedy: the appended token is the most likely one, and its attention row joins the heatmap.
  assert.match(
    (await page.locator('#tokens .tok.gen').getAttribute('title')) ?? '',
    new RegExp(`id ${expected.id} `),
  );
  await waitCount(page, '#att-heatmap rect.cell', (T + 1) * (T + 1));
}

test('explorer from file:// with the engine in the browser: stories260K .bin + tok512.bin, then its GGUF', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  if (!existsSync(BIN) || !existsSync(TOK)) return t.skip(`${BIN} or ${TOK} is absent (../shared): skipped`);
  ensureWebBuilt();
  const { page, errors } = await openOffline();
  assert.match((await page.textContent('#model-info')) ?? '', /no server/);
  assert.equal(await page.getAttribute('#engine', 'data-engine'), 'none');
  assert.ok(await page.locator('#prompt').isDisabled(), 'nothing to run before a model is loaded');

  await loadFiles(page, [BIN, TOK], 'llama');
  const prompt = 'Once upon a time, there was a little bird who';
  await runAndStep(page, await loadModel(BIN), prompt);
  // An attention head from the grid; lines from the focused token.
  await page.selectOption('#layer', '1');
  await page.click('#head-grid .head-tile[data-head="1"]');
  assert.ok((await page.locator('#att-lines line').count()) > 0, 'attention lines');
  // Generate streams more tokens from the worker.
  await page.fill('#gen-steps', '3');
  await page.click('#generate');
  await page.waitForFunction(
    () =>
      !document.body.classList.contains('busy') && document.querySelectorAll('#tokens .tok.gen').length >= 4,
    undefined,
    { timeout: 60_000 },
  );
  await page.locator('#sec-attention').scrollIntoViewIfNeeded();
  await shot(page, 'local-engine-stories-1280');

  // Another model replaces it: the Q8_0 GGUF alone.
  if (existsSync(Q8)) {
    await page.click('#reset-steps');
    await loadFiles(page, [Q8], 'llama');
    assert.match((await page.textContent('#model-info')) ?? '', /q8_0\.gguf/);
    await runAndStep(page, await loadModel(Q8), 'The cat sat');
  }
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
});

test('explorer from file:// with a tiny GPT-2 folder (config.json, model.safetensors, vocab.json + merges.txt)', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  const dirs = await ensureGpt2Fixtures();
  if (!dirs) return t.skip('the GPT-2 fixtures cannot be built (../shared/tokenizers/gpt2 is absent)');
  ensureWebBuilt();
  const dir = dirs['gpt2-tiny'];
  const files = readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .map((n) => join(dir, n));
  const { page, errors } = await openOffline(400, 800);
  await loadFiles(page, files, 'gpt2');
  await runAndStep(page, await loadModel(dir), 'The bank of the river');
  await shot(page, 'local-engine-gpt2-400');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no sideways scrolling at 400px (overflow ${overflow}px)`);
  assert.deepEqual(errors, [], 'no console errors');
  await page.context().close();
});

test('explorer served by glasslm serve is cross-origin isolated: a model loaded in the page runs on Web Worker threads', async (t) => {
  if (!haveChromium) return t.skip(NO_CHROMIUM);
  if (!existsSync(BIN) || !existsSync(TOK)) return t.skip(`${BIN} or ${TOK} is absent (../shared): skipped`);
  ensureWebBuilt();
  const node = await loadModel(BIN);
  const server = await startServer(node, { webRoot: join(ROOT, 'web/dist') });
  try {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const page = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP headers make it isolated');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    await loadFiles(page, [BIN, TOK], 'llama');
    const threads = Math.max(1, Math.min(16, cores));
    assert.equal(await page.getAttribute('#engine', 'data-threads'), String(threads));
    assert.match((await page.textContent('#engine')) ?? '', new RegExp(`wasm kernels, ${threads} threads?`));
    // Prefill runs its larger matmuls across the threads; the distribution is still Node's.
    await runAndStep(page, node, 'Once upon a time, there was a little bird who lived in a tall tree and');
    // A second model replaces it (the first one's worker threads are stopped) and answers too.
    if (existsSync(Q8)) {
      await page.click('#reset-steps');
      await loadFiles(page, [Q8], 'llama');
      assert.equal(await page.getAttribute('#engine', 'data-threads'), String(threads));
      await runAndStep(page, await loadModel(Q8), 'The cat sat on the mat and');
    }
    await shot(page, 'local-engine-threads');
    assert.deepEqual(errors, [], 'no console errors');
    await page.context().close();
  } finally {
    await server.close();
  }
});
