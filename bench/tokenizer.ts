// `npm run bench:tok`: GPT-2 byte-level BPE encode throughput (MB of UTF-8 per second) of glasslm's tokenizer
// against the npm tokenizers that implement the same vocabulary — `tiktoken` (Rust → WASM; a dev dependency),
// and `gpt-tokenizer` and `js-tiktoken` (pure JS) when installed (`npm i --no-save gpt-tokenizer js-tiktoken`)
// — on a large English text: the King James Bible from Debian's `bible` program (bible-kjv, ~4.3 MB), else a
// generated text. Each is warmed up on the first 256 KB; its first pass over the whole text must give the
// same ids as ours (else it is not timed further), then it encodes the text `--reps` times (default 3): the
// best pass is the figure; the first pass (cold word caches, for those that keep one) is recorded too. Writes bench/results/tok-<timestamp>.json.
//
//   npm run bench:tok
//   npm run bench:tok -- --reps 5 --mb 1        # the first 1 MB of the text only
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { bundledGpt2TokenizerFiles } from '../src/cli/common.js';
import { loadTokenizerFromFolder } from '../src/tokenizers/load-node.js';

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const REPS = Math.max(1, opt('reps', 3));
const MB = opt('mb', 0);

/** The KJV (one verse per line) when `bible` is installed, else a seeded made-up English text of ~4 MB. */
function corpus(): { name: string; text: string } {
  try {
    const text = execFileSync('bible', ['-f', 'Gen1:1-Rev22:21'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 60_000,
    });
    if (text.length > 1_000_000) return { name: 'King James Bible (`bible -f Gen1:1-Rev22:21`)', text };
  } catch {
    // not installed: fall through
  }
  const words = (
    'the of and to in a is that for it as was with be by on not he I this are or his from at which but have an ' +
    'they you were her she there been one all we their has would when if so no what up out about who them ' +
    'time people year way day man thing woman life child world school state family student group country ' +
    'problem hand part place case week company system program question work government number night point ' +
    "home water room mother area money story fact month lot right study book eye job word business issue don't " +
    'it\'s 1999 2024 3.14 42 -- (see) "quoted" naïve café Zürich'
  ).split(' ');
  let s = 12345;
  const out: string[] = [];
  let len = 0;
  while (len < 4_000_000) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const n = 6 + (s % 14);
    const sentence: string[] = [];
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      sentence.push(words[(s >>> 8) % words.length]);
    }
    const line = sentence.join(' ').replace(/^./, (c) => c.toUpperCase()) + (s % 5 === 0 ? '?\n' : '. ');
    out.push(line);
    len += line.length;
  }
  return { name: 'generated English-like text (the `bible` program is absent)', text: out.join('') };
}

interface Candidate {
  name: string;
  version: string;
  encode: (text: string) => ArrayLike<number>;
  free?: () => void;
}

async function version(pkg: string): Promise<string> {
  try {
    const { readFileSync } = await import('node:fs');
    const url = new URL(`../node_modules/${pkg}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** The peers that are installed (imported by a computed name: they may be absent). */
async function peers(): Promise<{ found: Candidate[]; missing: string[] }> {
  const found: Candidate[] = [];
  const missing: string[] = [];
  const load = async (spec: string) => (await import(spec)) as unknown;
  try {
    const m = (await load('tiktoken')) as {
      get_encoding(name: string): { encode_ordinary(t: string): Uint32Array; free(): void };
    };
    const enc = m.get_encoding('gpt2');
    found.push({
      name: 'tiktoken',
      version: await version('tiktoken'),
      encode: (t) => enc.encode_ordinary(t),
      free: () => enc.free(),
    });
  } catch {
    missing.push('tiktoken');
  }
  try {
    const m = (await load('gpt-tokenizer/encoding/r50k_base')) as { encode(t: string): number[] };
    found.push({
      name: 'gpt-tokenizer (r50k_base)',
      version: await version('gpt-tokenizer'),
      encode: (t) => m.encode(t),
    });
  } catch {
    missing.push('gpt-tokenizer');
  }
  try {
    const lite = (await load('js-tiktoken/lite')) as {
      Tiktoken: new (ranks: unknown) => { encode(t: string): number[] };
    };
    const ranks = ((await load('js-tiktoken/ranks/gpt2')) as { default: unknown }).default;
    const enc = new lite.Tiktoken(ranks);
    found.push({ name: 'js-tiktoken', version: await version('js-tiktoken'), encode: (t) => enc.encode(t) });
  } catch {
    missing.push('js-tiktoken');
  }
  return { found, missing };
}

function sameIds(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

// ---- run ----------------------------------------------------------------------------------------------

const { name: textName, text: full } = corpus();
const text = MB > 0 ? full.slice(0, Math.round(MB * 1e6)) : full;
const bytes = Buffer.byteLength(text, 'utf8');
const warm = text.slice(0, 256 * 1024);

const ours = await loadTokenizerFromFolder(dirname(bundledGpt2TokenizerFiles().vocab));
const { found, missing } = await peers();
const candidates: Candidate[] = [
  { name: 'glasslm', version: await version('../'), encode: (t) => ours.encode(t) },
  ...found,
];

interface Result {
  name: string;
  version: string;
  tokens: number;
  sameIdsAsGlasslm: boolean;
  firstPassMBs: number;
  bestMBs: number;
  passesMBs: number[];
  firstDifference?: number;
}
const results: Result[] = [];
let reference: ArrayLike<number> | null = null;
for (const c of candidates) {
  c.encode(warm);
  // First full pass: its ids must equal glasslm's before any figure is kept (timed: caches are cold).
  let t0 = performance.now();
  const ids = c.encode(text);
  const first = bytes / 1e6 / ((performance.now() - t0) / 1000);
  reference ??= ids;
  const diff = sameIds(reference, ids);
  const passes: number[] = [];
  if (diff < 0) {
    for (let r = 0; r < REPS; r++) {
      t0 = performance.now();
      c.encode(text);
      passes.push(bytes / 1e6 / ((performance.now() - t0) / 1000));
    }
  }
  const res: Result = {
    name: c.name,
    version: c.version,
    tokens: ids.length,
    sameIdsAsGlasslm: diff < 0,
    firstPassMBs: first,
    bestMBs: passes.length ? Math.max(...passes) : NaN,
    passesMBs: passes,
  };
  if (diff >= 0) res.firstDifference = diff;
  results.push(res);
  c.free?.();
  console.error(
    diff >= 0
      ? `${c.name}: ids DIFFER from glasslm's at token ${diff}: not timed`
      : `${c.name}: ${res.bestMBs.toFixed(2)} MB/s best of ${REPS}, ${first.toFixed(2)} MB/s first pass, ${res.tokens} tokens`,
  );
}

const ourBest = results[0].bestMBs;
const agreeing = results.slice(1).filter((r) => r.sameIdsAsGlasslm);
const fastest = agreeing.reduce<Result | null>((a, r) => (!a || r.bestMBs > a.bestMBs ? r : a), null);
const result = {
  date: new Date().toISOString(),
  command: `npm run bench:tok -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version },
  text: { name: textName, bytes, chars: text.length },
  reps: REPS,
  missing,
  results,
  vsFastestPeer: fastest ? { peer: fastest.name, ratio: ourBest / fastest.bestMBs } : null,
  notes: [
    'MB/s = UTF-8 bytes of the whole text ÷ seconds of one encode call; best of the passes (first pass recorded too)',
    'peers are timed only if their ids equal glasslm’s (tiktoken: encode_ordinary; gpt-tokenizer: r50k_base = GPT-2)',
    'target (issue 5): >= 1.5x the fastest of tiktoken and gpt-tokenizer',
  ],
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const outFile = new URL(`./results/tok-${result.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');

console.log(
  `${textName}: ${(bytes / 1e6).toFixed(2)} MB, ${results[0].tokens} GPT-2 tokens, best of ${REPS}`,
);
console.log(
  ['tokenizer', 'best MB/s', 'first MB/s', 'same ids', 'glasslm ÷']
    .map((h, i) => h.padStart([34, 10, 11, 9, 10][i]))
    .join(' '),
);
for (const r of results) {
  console.log(
    [
      `${r.name} ${r.version}`.padStart(34),
      r.bestMBs.toFixed(2).padStart(10),
      r.firstPassMBs.toFixed(2).padStart(11),
      (r.sameIdsAsGlasslm ? 'yes' : `NO @${r.firstDifference}`).padStart(9),
      (r === results[0] ? '' : `${(ourBest / r.bestMBs).toFixed(2)}x`).padStart(10),
    ].join(' '),
  );
}
if (missing.length)
  console.log(`not installed: ${missing.join(', ')} (npm i --no-save ${missing.join(' ')})`);
console.log(`wrote ${outFile.pathname}`);
if (results.some((r) => !r.sameIdsAsGlasslm)) process.exitCode = 1;
