// The wasm backend in a real browser (Debian's Chromium, headless, through playwright-core): the same
// kernels as in Node, on 1 and 2 threads — Web Workers over a shared memory, which a browser allows only in
// a cross-origin-isolated page. A small server sends the page with COOP/COEP headers (as glasslm serve
// does). The page and the Node half run one module, bench/browser/measure.js, on tsc's output (dist/):
// prefill-shaped matmul GFLOP/s (512 x 768 · 768 x 3072) and decode-shaped matrix-vector GB/s (24 GPT-2
// MLP matrices, 226 MB). Writes bench/results/browser-<time>.json.
//   npm run build && npx tsx bench/browser.ts [--threads 2]
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const { values } = parseArgs({ options: { threads: { type: 'string', default: String(cpus().length) } } });
const threads = Number(values.threads);
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium)`);
if (!existsSync(join(ROOT, 'dist/src/tensor/wasm/kernels.wasm')))
  throw new Error('dist/ has no compiled kernels: run `npm run build` first');

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]));
  const file = join(ROOT, path);
  if (!file.startsWith(ROOT) || !existsSync(file)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
  });
  res.end(readFileSync(file));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as { port: number }).port;

interface Row {
  threads: number;
  kernels: string;
  prefillGflops: number;
  decodeGBs: number;
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox'] });
let page: { isolated: boolean; userAgent: string; rows: Row[] };
try {
  const p = await browser.newPage();
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message));
  await p.goto(`http://127.0.0.1:${port}/bench/browser/page.html?threads=${threads}`);
  await p.waitForFunction(() => (window as { result?: unknown }).result !== undefined, undefined, {
    timeout: 300_000,
  });
  const r = (await p.evaluate(() => (window as { result?: unknown }).result)) as typeof page & {
    error?: string;
  };
  if (r.error || errors.length) throw new Error(`in the page: ${r.error ?? errors.join('; ')}`);
  page = r;
} finally {
  await browser.close();
  server.close();
}

// The same measurement in Node, for comparison: the same module.
const { measureKernels } = (await import(pathToFileURL(join(ROOT, 'bench/browser/measure.js')).href)) as {
  measureKernels(threads: number, shared: boolean): Promise<Row>;
};
const node: Row[] = [];
for (let t = 1; t <= threads; t++) node.push(await measureKernels(t, true));

console.log(
  `Chromium (${page.isolated ? 'cross-origin isolated' : 'NOT isolated: one thread'}): ${page.userAgent}`,
);
console.log('          where  threads  kernels        prefill matmul   decode matvec');
const line = (where: string, r: Row) =>
  console.log(
    `${where.padStart(15)}  ${String(r.threads).padStart(7)}  ${r.kernels.padEnd(13)}  ${r.prefillGflops.toFixed(1).padStart(8)} GFLOP/s  ${r.decodeGBs.toFixed(1).padStart(7)} GB/s`,
  );
for (const r of page.rows) line('Chromium', r);
for (const r of node) line('Node', r);
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `browser-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      chromium: page,
      node,
      nodeVersion: process.version,
      cpu: cpus()[0]?.model,
      date: new Date().toISOString(),
    },
    null,
    2,
  ),
);
console.log(`wrote ${file}`);
process.exit(0);
