// `npm run bench:embed`: sentence-embedding speed of glasslm against llama.cpp (the peer, through
// node-llama-cpp when installed) on the same weights, in one run. The model: a random-weight folder of
// all-MiniLM-L6-v2's shape (real config, tokenizer and pooling; test/fixtures/make-bert.ts), and the same
// weights written as a llama.cpp `bert` GGUF (f32) by glasslm's own GGUF writer. Texts: passages of about
// --tokens tokens ([CLS] and [SEP] included) and single short sentences, cut from bench/data's stories.
// For each: sentences/s and tokens/s at batch 1 (one text per call) and batch --batch (32 texts per call),
// glasslm's reference backend and wasm backend at 1 and --threads threads, llama.cpp at the same threads;
// our/peer ratios. Before timing the peer, both engines' vectors of a few texts are compared (cosine > 0.999
// required, against the cosine of two different texts as the control), and their tokens on every text.
//
// Batching, honestly: glasslm's SentenceEmbedder.embed runs a call's texts --batch at a time in one
// forward (Encoder.forwardBatch: their rows end to end through every matmul, attention per text, no
// padding computed); batch 1 is one text per forward. node-llama-cpp's embedding context evaluates one
// text per llama_decode (getEmbeddingFor; 32 concurrent calls are serialised), so its batch 32 is 32
// decodes. The target ratio: glasslm at batch --batch ÷ llama.cpp one text at a time (batch 1).
//
// Writes bench/results/embed-<timestamp>.json and prints a table.
//   npm run bench:embed                                   # 64 texts of each kind, reference on 4
//   npm run bench:embed -- --sentences 8 --batch 4 --ref-sentences 1 --no-peer   # a quick look
//   npm run bench:embed -- --skip-reference --sets short          # short sentences only
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SentenceEmbedder } from '../src/embed/embedder.js';
import { loadEmbedder } from '../src/embed/load.js';
import { cosine } from '../src/embed/pooling.js';
import { createWasmBackend, referenceBackend, setBackend, type Backend } from '../src/tensor/index.js';
import { ensureBertFixture } from '../test/fixtures/make-bert.js';
import { openEmbedPeer, writeBertGguf, type EmbedPeerModel } from './embed-peer.js';
import { machine } from './machine.js';

// ---- options ------------------------------------------------------------------------------------------

function opt(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const SENTENCES = opt('sentences', 64);
const REF_SENTENCES = opt('ref-sentences', 4);
const LONG_TOKENS = opt('tokens', 128);
const BATCH = opt('batch', 32);
const THREADS = opt('threads', Math.min(2, cpus().length));
const SKIP_REF = flag('skip-reference');
const NO_PEER = flag('no-peer');
const KEEP_GGUF = flag('keep-gguf');
const CHECK_TEXTS = 3; // of each kind, for the same-model check
const BATCHES = [...new Set([1, BATCH])];
/** Each measurement this many times, the fastest kept (a shared machine's noise only ever slows a run). */
const REPS = opt('reps', 1);

const now = () => performance.now();
const threadCounts = () => (THREADS > 1 ? [1, THREADS] : [1]);

// ---- the model and the texts --------------------------------------------------------------------------

const dir = await ensureBertFixture();
if (!dir) {
  console.error(
    'bench:embed needs ../shared/tokenizers/all-MiniLM-L6-v2 (config and tokenizer) to write its model',
  );
  process.exit(2);
}

setBackend(referenceBackend);
const tl = now();
const refEmbedder = await loadEmbedder(dir);
const c = refEmbedder.config;
console.error(
  `MiniLM-shaped random weights (${c.nLayers} layers, ${c.dim} dims, ${c.nHeads} heads, ffn ${c.ffnDim}, vocab ${c.vocabSize}) ` +
    `from ${dir}, loaded in ${((now() - tl) / 1000).toFixed(1)} s; ${refEmbedder.pooling} pooling${refEmbedder.normalize ? ', normalised' : ''}`,
);

/** Sentences of bench/data's held-out stories. */
function storySentences(): string[] {
  const text = readFileSync(fileURLToPath(new URL('./data/stories-heldout.txt', import.meta.url)), 'utf8')
    .replaceAll('<|endoftext|>', '\n')
    .replace(/\s+/g, ' ');
  return (text.match(/[^.!?]+[.!?]+["']?/g) ?? []).map((s) => s.trim()).filter((s) => s.length > 0);
}

const count = (text: string) => refEmbedder.inputIds(text).length;

/** n passages of at most `tokens` tokens ([CLS] and [SEP] included), the i-th from the i-th sentence on. */
function longTexts(sentences: string[], n: number, tokens: number): string[] {
  const words = sentences.join(' ').split(' ');
  const starts: number[] = [];
  let w = 0;
  for (const s of sentences) {
    starts.push(w);
    w += s.split(' ').length;
  }
  return Array.from({ length: n }, (_, i) => {
    let at = starts[i % starts.length];
    let text = '';
    for (;;) {
      const next = text ? `${text} ${words[at % words.length]}` : words[at % words.length];
      if (count(next) > tokens) return text;
      text = next;
      at++;
    }
  });
}

const sentences = storySentences();
const allSets = {
  long: () => longTexts(sentences, SENTENCES, LONG_TOKENS),
  short: () => Array.from({ length: SENTENCES }, (_, i) => sentences[i % sentences.length]),
};
type SetName = keyof typeof allSets;
// --sets long,short (default both)
const setsArg = process.argv.indexOf('--sets');
const SET_NAMES = (setsArg >= 0 ? process.argv[setsArg + 1].split(',') : Object.keys(allSets)) as SetName[];
const sets = Object.fromEntries(SET_NAMES.map((s) => [s, allSets[s]()])) as Record<SetName, string[]>;
const tokensOf = (texts: string[]) => texts.reduce((a, t) => a + count(t), 0);
for (const s of SET_NAMES)
  console.error(
    `${s}: ${sets[s].length} texts, ${(tokensOf(sets[s]) / sets[s].length).toFixed(1)} tokens each on average`,
  );

// ---- measurements -------------------------------------------------------------------------------------

interface Row {
  engine: 'glasslm' | 'llama.cpp';
  /** glasslm: 'reference' | 'wasm'; llama.cpp: 'native' | 'prebuilt'. */
  backend: string;
  threads: number;
  texts: SetName;
  batch: number;
  sentences: number;
  tokens: number;
  seconds: number;
  /** CPU time of the process over the same run (all its threads): what a loaded machine's wall time hides. */
  cpuSeconds: number;
  sentencesPerS: number;
  tokensPerS: number;
}
const rows: Row[] = [];
const notes: string[] = [];

function addRow(r: Omit<Row, 'sentencesPerS' | 'tokensPerS'>): void {
  const row = { ...r, sentencesPerS: r.sentences / r.seconds, tokensPerS: r.tokens / r.seconds };
  rows.push(row);
  console.error(
    `  ${row.engine} ${row.backend} ${row.threads}t ${row.texts} batch ${row.batch}: ` +
      `${row.sentencesPerS.toFixed(2)} sentences/s, ${row.tokensPerS.toFixed(0)} tokens/s (${row.sentences} texts, ${row.seconds.toFixed(2)} s, CPU ${row.cpuSeconds.toFixed(2)} s)`,
  );
}

/** Wall and CPU seconds of the fastest of REPS runs of `body`. */
async function timed(body: () => unknown): Promise<{ seconds: number; cpuSeconds: number }> {
  let best = { seconds: Infinity, cpuSeconds: Infinity };
  for (let r = 0; r < REPS; r++) {
    const c0 = process.cpuUsage();
    const t0 = now();
    await body();
    const c = process.cpuUsage(c0);
    const seconds = (now() - t0) / 1000;
    if (seconds < best.seconds) best = { seconds, cpuSeconds: (c.user + c.system) / 1e6 };
  }
  return best;
}

/** Texts in calls of `batch` each (embed's batchSize too: one forward per call). */
function timeOurs(emb: SentenceEmbedder, texts: string[], batch: number) {
  return timed(() => {
    for (let i = 0; i < texts.length; i += batch) emb.embed(texts.slice(i, i + batch), { batchSize: batch });
  });
}

/** The check texts: the first few of each kind. */
const checkTexts = SET_NAMES.flatMap((s) =>
  sets[s].slice(0, CHECK_TEXTS).map((text, i) => ({ set: s, i, text })),
);
/** Vectors of the check texts per glasslm engine. */
const ourVectors = new Map<string, Float32Array[]>();

const wasm = await createWasmBackend({ threads: THREADS });
const engines: Array<{ be: Backend; name: string; threads: number; n: number }> = [];
if (!SKIP_REF) engines.push({ be: referenceBackend, name: 'reference', threads: 1, n: REF_SENTENCES });
for (const t of threadCounts()) engines.push({ be: wasm, name: 'wasm', threads: t, n: SENTENCES });

let emb: SentenceEmbedder = refEmbedder;
let embFor: Backend = referenceBackend;
for (const e of engines) {
  setBackend(e.be);
  if (e.be === wasm) wasm.threads = e.threads;
  if (embFor !== e.be) {
    const t0 = now();
    emb = await loadEmbedder(dir); // its matrices placed by the active backend
    embFor = e.be;
    console.error(`glasslm ${e.name}: model loaded in ${((now() - t0) / 1000).toFixed(1)} s`);
  }
  if (!ourVectors.has(e.name)) ourVectors.set(e.name, emb.embed(checkTexts.map((t) => t.text)));
  for (const s of SET_NAMES) {
    const texts = sets[s].slice(0, e.n);
    emb.embed(texts.slice(0, 2)); // warm-up
    for (const batch of BATCHES) {
      if (batch > texts.length) {
        notes.push(`glasslm ${e.name} ${s}: batch ${batch} not measured (${texts.length} texts)`);
        continue;
      }
      addRow({
        engine: 'glasslm',
        backend: e.name,
        threads: e.threads,
        texts: s,
        batch,
        sentences: texts.length,
        tokens: tokensOf(texts),
        ...(await timeOurs(emb, texts, batch)),
      });
    }
  }
}
setBackend(referenceBackend);

// ---- the peer -----------------------------------------------------------------------------------------

interface SameModel {
  text: string;
  tokens: number;
  /** glasslm reference vs wasm (when both ran). */
  referenceVsWasm?: number;
  /** glasslm wasm vs llama.cpp given glasslm's token ids. */
  llamaCppOnOurIds: number;
  /** glasslm wasm vs llama.cpp given the text (its own WordPiece tokenizer). */
  llamaCppOnText: number;
}
const sameModel: SameModel[] = [];
let tokenization: { texts: number; identical: number; firstDifference?: string } | null = null;
let ggufInfo: { bytes: number; seconds: number } | null = null;

const peer = NO_PEER ? null : await openEmbedPeer();
if (peer) {
  console.error(
    `peer: llama.cpp ${peer.info.build} (${peer.info.via}, ${peer.info.llamaCpp})` +
      (peer.info.nativeUnavailable ? ` — ${peer.info.nativeUnavailable}` : ''),
  );
  const ggufDir = mkdtempSync(join(tmpdir(), 'glasslm-bench-embed-'));
  const ggufPath = join(ggufDir, 'minilm-random-f32.gguf');
  try {
    const tw = now();
    const bytes = await writeBertGguf(dir, refEmbedder, ggufPath);
    ggufInfo = { bytes, seconds: (now() - tw) / 1000 };
    console.error(
      `bert GGUF (f32) written by glasslm in ${ggufInfo.seconds.toFixed(1)} s (${(bytes / 2 ** 20).toFixed(1)} MiB)`,
    );
    let model: EmbedPeerModel | null = null;
    try {
      model = await peer.load(ggufPath, c.contextLength);
    } catch (e) {
      notes.push(`llama.cpp refused glasslm's bert GGUF: ${(e as Error).message}`);
      console.error(`  llama.cpp refused the GGUF: ${(e as Error).message}`);
    }
    if (model) {
      // Same tokens? llama.cpp's WordPiece against ours, on every text measured.
      const all = SET_NAMES.flatMap((s) => sets[s]);
      const { bos: cls, eos: sep } = refEmbedder.tokenizer.specialTokens;
      let identical = 0;
      let firstDifference: string | undefined;
      for (const text of all) {
        let theirs = model.tokenize(text);
        if (theirs[0] === cls) theirs = theirs.slice(1);
        if (theirs[theirs.length - 1] === sep) theirs = theirs.slice(0, -1);
        const ours = Array.from(refEmbedder.tokenizer.encode(text));
        if (ours.length === theirs.length && ours.every((id, k) => id === theirs[k])) identical++;
        else
          firstDifference ??= `"${text.slice(0, 60)}…": glasslm ${ours.slice(0, 12).join(',')}…; llama.cpp ${theirs.slice(0, 12).join(',')}…`;
      }
      tokenization = { texts: all.length, identical, firstDifference };
      console.error(`  same tokens? ${identical}/${all.length} texts tokenized identically by llama.cpp`);

      const ours = ourVectors.get('wasm')!;
      const ref = ourVectors.get('reference');
      for (const t of threadCounts()) {
        const ctx = await model.context(t);
        try {
          if (t === 1) {
            for (const [k, ct] of checkTexts.entries()) {
              const ids = refEmbedder.inputIds(ct.text);
              const onIds = Float32Array.from((await ctx.getEmbeddingFor(ids)).vector);
              const onText = Float32Array.from((await ctx.getEmbeddingFor(ct.text)).vector);
              sameModel.push({
                text: `${ct.set} #${ct.i}`,
                tokens: ids.length,
                referenceVsWasm: ref ? cosine(ref[k], ours[k]) : undefined,
                llamaCppOnOurIds: cosine(ours[k], onIds),
                llamaCppOnText: cosine(ours[k], onText),
              });
            }
            const worst = Math.min(...sameModel.map((m) => Math.min(m.llamaCppOnOurIds, m.llamaCppOnText)));
            console.error(
              `  same model? cosine(glasslm, llama.cpp) >= ${worst.toFixed(7)} on ${sameModel.length} texts` +
                (worst > 0.999 ? '' : ' — BELOW 0.999'),
            );
          }
          for (const s of SET_NAMES) {
            const texts = sets[s];
            for (const x of texts.slice(0, 2)) await ctx.getEmbeddingFor(x); // warm-up
            for (const batch of BATCHES) {
              if (batch > texts.length) continue;
              const time = await timed(async () => {
                for (let i = 0; i < texts.length; i += batch)
                  await Promise.all(texts.slice(i, i + batch).map((x) => ctx.getEmbeddingFor(x)));
              });
              addRow({
                engine: 'llama.cpp',
                backend: peer.info.build,
                threads: t,
                texts: s,
                batch,
                sentences: texts.length,
                tokens: tokensOf(texts),
                ...time,
              });
            }
          }
        } finally {
          await ctx.dispose();
        }
      }
      await model.dispose();
    }
  } finally {
    if (KEEP_GGUF) console.error(`GGUF kept: ${ggufPath}`);
    else rmSync(ggufDir, { recursive: true, force: true });
    await peer.close();
  }
}
wasm.close();

// ---- report -------------------------------------------------------------------------------------------

/** glasslm (each backend) ÷ llama.cpp, same threads, texts and batch, in sentences/s. */
const ratios = rows
  .filter((r) => r.engine === 'llama.cpp')
  .flatMap((p) =>
    rows
      .filter(
        (o) =>
          o.engine === 'glasslm' && o.threads === p.threads && o.texts === p.texts && o.batch === p.batch,
      )
      .map((o) => ({
        glasslm: o.backend,
        threads: p.threads,
        texts: p.texts,
        batch: p.batch,
        ratio: o.sentencesPerS / p.sentencesPerS,
      })),
  );
/**
 * The batching target: glasslm wasm at batch --batch ÷ llama.cpp one text at a time (batch 1), same threads
 * and texts, in sentences/s.
 */
const batchedVsOneAtATime = rows
  .filter((p) => p.engine === 'llama.cpp' && p.batch === 1)
  .flatMap((p) =>
    rows
      .filter(
        (o) =>
          o.engine === 'glasslm' &&
          o.backend === 'wasm' &&
          o.threads === p.threads &&
          o.texts === p.texts &&
          o.batch === BATCH,
      )
      .map((o) => ({
        threads: p.threads,
        texts: p.texts,
        glasslmBatch: BATCH,
        ratio: o.sentencesPerS / p.sentencesPerS,
        /** The same in CPU time per text (less of the shared machine's noise; threads' spinning counts). */
        cpuRatio: p.cpuSeconds / p.sentences / (o.cpuSeconds / o.sentences),
      })),
  );
const minCos = sameModel.length
  ? Math.min(...sameModel.map((m) => Math.min(m.llamaCppOnOurIds, m.llamaCppOnText)))
  : null;
/** The control: the largest cosine between glasslm's vectors of two different check texts. */
const wasmVectors = ourVectors.get('wasm') ?? [];
let differentTexts = -1;
for (let a = 0; a < wasmVectors.length; a++)
  for (let b = a + 1; b < wasmVectors.length; b++)
    differentTexts = Math.max(differentTexts, cosine(wasmVectors[a], wasmVectors[b]));
const agree = minCos === null ? null : minCos > 0.999 && minCos > differentTexts;

const result = {
  date: new Date().toISOString(),
  command: `npm run bench:embed -- ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { ...machine(), loadAverage: loadavg() },
  model: {
    shape: 'all-MiniLM-L6-v2',
    randomWeights: true,
    folder: dir,
    layers: c.nLayers,
    dim: c.dim,
    heads: c.nHeads,
    ffn: c.ffnDim,
    vocab: c.vocabSize,
    pooling: refEmbedder.pooling,
    normalize: refEmbedder.normalize,
    activation: c.activation,
  },
  texts: Object.fromEntries(
    SET_NAMES.map((s) => [s, { count: sets[s].length, meanTokens: tokensOf(sets[s]) / sets[s].length }]),
  ),
  gguf: ggufInfo,
  peer: peer ? peer.info : null,
  tokenization,
  sameModel: {
    minCosine: minCos,
    /** Largest cosine between glasslm's vectors of two different check texts (what a mismatch looks like). */
    differentTextsMaxCosine: differentTexts,
    agree,
    texts: sameModel,
  },
  notes: [
    ...notes,
    `glasslm's SentenceEmbedder.embed runs batch ${BATCH} as one forward (Encoder.forwardBatch: the texts' ` +
      'rows end to end through every matmul, attention per text, no padding computed); batch 1 is one text per forward',
    'llama.cpp through node-llama-cpp: getEmbeddingFor evaluates one text per llama_decode (one sequence); a ' +
      'batch of 32 is 32 concurrent calls, which node-llama-cpp serialises',
    'tokens count [CLS] and [SEP]; times include tokenization, the forward, pooling (and normalisation for glasslm; ' +
      'llama.cpp returns the pooled vector unnormalised, compared by cosine)',
    `glasslm reference measured on ${REF_SENTENCES} texts of each kind: it is slow`,
    `activation: glasslm uses HF's "${c.activation}" (${c.activation === 'gelu' ? 'exact erf' : 'tanh'} GELU); ` +
      "llama.cpp's bert graph uses ggml_gelu (tanh approximation) — a small difference in the vectors",
  ],
  rows,
  ratios,
  batchedVsOneAtATime,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const outFile = new URL(`./results/embed-${result.date.replace(/[:.]/g, '-')}.json`, import.meta.url);
writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');

const pad = (s: string, n: number) => s.padStart(n);
console.log(
  `all-MiniLM-L6-v2 shape (random weights, f32): ${SET_NAMES.map((s) => `${s} texts ~${(tokensOf(sets[s]) / sets[s].length).toFixed(0)} tokens`).join(', ')}`,
);
const widths = [20, 4, 6, 6, 7, 14, 11, 16];
console.log(
  ['engine', 'thr', 'texts', 'batch', 'n', 'sentences/s', 'tokens/s', 'glasslm/llama.cpp']
    .map((h, i) => pad(h, widths[i]))
    .join(' '),
);
for (const r of rows) {
  const q = ratios.find(
    (x) =>
      r.engine === 'glasslm' &&
      x.glasslm === r.backend &&
      x.threads === r.threads &&
      x.texts === r.texts &&
      x.batch === r.batch,
  );
  console.log(
    [
      pad(`${r.engine} ${r.backend}`, widths[0]),
      pad(String(r.threads), widths[1]),
      pad(r.texts, widths[2]),
      pad(String(r.batch), widths[3]),
      pad(String(r.sentences), widths[4]),
      pad(r.sentencesPerS.toFixed(2), widths[5]),
      pad(r.tokensPerS.toFixed(0), widths[6]),
      pad(q ? `${q.ratio.toFixed(2)}x` : '-', widths[7]),
    ].join(' '),
  );
}
for (const q of batchedVsOneAtATime)
  console.log(
    `glasslm wasm batch ${q.glasslmBatch} ÷ llama.cpp one text at a time, ${q.threads}t ${q.texts}: ${q.ratio.toFixed(2)}x (CPU time: ${q.cpuRatio.toFixed(2)}x)`,
  );
if (!peer) console.log('llama.cpp: not measured (peer: null)' + (NO_PEER ? ' — --no-peer' : ''));
if (tokenization)
  console.log(
    `same tokens: ${tokenization.identical}/${tokenization.texts} texts tokenized identically by llama.cpp` +
      (tokenization.firstDifference ? ` (first difference: ${tokenization.firstDifference})` : ''),
  );
if (minCos !== null)
  console.log(
    `same model: cosine(glasslm wasm, llama.cpp) >= ${minCos.toFixed(7)} on ${sameModel.length} texts ` +
      `(${agree ? 'agree' : 'DISAGREE'}: > 0.999 required; two different texts: <= ${differentTexts.toFixed(4)})`,
  );
for (const n of notes) console.log(`note: ${n}`);
console.log(`wrote ${fileURLToPath(outFile)}`);
