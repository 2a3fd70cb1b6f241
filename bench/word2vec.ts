// word2vec: glasslm against gensim on the same corpus, settings and threads. Trains skip-gram with negative
// sampling (word2vec.c's and gensim's defaults: dim 100, window 5, negative 5, sample 1e-3, min-count 5,
// 5 epochs, alpha 0.025) on the King James Bible from Debian's bible-kjv package (dumped by its `bible`
// command, verse references dropped, lower-cased, everything but letters and apostrophes made a space: one
// verse per line), --runs times each (different seeds), and reports words/s = corpus words × epochs / wall
// seconds from the text to trained vectors (vocabulary included), and the analogy accuracy of both vector
// sets scored by the same code (glasslm's evaluateAnalogies, 3CosAdd, all words) on
// bench/data/kjv-analogies.txt, which this script writes from the pairs below: family (man : woman),
// plurals (city : cities) and verb tenses (go : went), every pair against every other pair of its section.
// gensim: Debian's python3-gensim under /usr/bin/python3, run by bench/word2vec_gensim.py in the same run
// (`gensim: null` where it does not import). Also words per CPU-second (all threads of each process), the
// steadier figure on a shared machine. Writes bench/results/word2vec-<time>.json.
//   npx tsx bench/word2vec.ts [--threads 2] [--runs 3] [--epochs 5] [--no-gensim]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadWordVectors } from '../src/word2vec/load-node.js';
import { evaluateAnalogies } from '../src/word2vec/query.js';
import { trainWord2VecThreads } from '../src/word2vec/train-node.js';
import { machine } from './machine.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    epochs: { type: 'string', default: '5' },
    'no-gensim': { type: 'boolean', default: false },
  },
});
const threads = Number(values.threads);
const runs = Number(values.runs);
const epochs = Number(values.epochs);

const SECTIONS: Record<string, Array<[string, string]>> = {
  family: [
    ['father', 'mother'],
    ['son', 'daughter'],
    ['brother', 'sister'],
    ['king', 'queen'],
    ['man', 'woman'],
    ['husband', 'wife'],
    ['sons', 'daughters'],
    ['he', 'she'],
    ['his', 'her'],
    ['men', 'women'],
    ['husbands', 'wives'],
    ['ram', 'ewe'],
  ],
  plurals: [
    ['city', 'cities'],
    ['house', 'houses'],
    ['hand', 'hands'],
    ['day', 'days'],
    ['year', 'years'],
    ['tree', 'trees'],
    ['servant', 'servants'],
    ['priest', 'priests'],
    ['nation', 'nations'],
    ['word', 'words'],
    ['horse', 'horses'],
    ['camel', 'camels'],
    ['gate', 'gates'],
    ['field', 'fields'],
    ['mountain', 'mountains'],
    ['river', 'rivers'],
    ['tribe', 'tribes'],
    ['prophet', 'prophets'],
    ['enemy', 'enemies'],
    ['altar', 'altars'],
  ],
  'verb tenses': [
    ['go', 'went'],
    ['come', 'came'],
    ['say', 'said'],
    ['give', 'gave'],
    ['take', 'took'],
    ['see', 'saw'],
    ['know', 'knew'],
    ['speak', 'spake'],
    ['hear', 'heard'],
    ['bring', 'brought'],
    ['make', 'made'],
    ['build', 'built'],
    ['sit', 'sat'],
    ['stand', 'stood'],
    ['write', 'wrote'],
    ['smite', 'smote'],
    ['slay', 'slew'],
    ['find', 'found'],
    ['keep', 'kept'],
    ['send', 'sent'],
  ],
};

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const analogiesPath = here('./data/kjv-analogies.txt');
const lines: string[] = [];
for (const [name, pairs] of Object.entries(SECTIONS)) {
  lines.push(`: ${name}`);
  for (const [a, b] of pairs) for (const [c, d] of pairs) if (a !== c) lines.push(`${a} ${b} ${c} ${d}`);
}
writeFileSync(analogiesPath, lines.join('\n') + '\n');

/** The KJV, one verse per line, lower-cased, letters and apostrophes only. */
function corpus(): string {
  const path = here('./.cache/kjv.txt');
  if (existsSync(path)) return path;
  const r = spawnSync('bible', ['-f', 'gen1:1-rev22:21'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 || !r.stdout) {
    throw new Error('bench:word2vec needs the KJV: apt-get install -y bible-kjv (its `bible` command)');
  }
  const text = r.stdout
    .split('\n')
    .map((l) =>
      l
        .replace(/^\S+\d+:\d+ /, '')
        .toLowerCase()
        .replace(/[^a-z' ]+/g, ' ')
        .replace(/ +/g, ' ')
        .trim(),
    )
    .filter((l) => l !== '')
    .join('\n');
  mkdirSync(here('./.cache/'), { recursive: true });
  writeFileSync(path, text + '\n');
  return path;
}

const corpusPath = corpus();
const text = readFileSync(corpusPath, 'utf8');
const questions = readFileSync(analogiesPath, 'utf8');
const score = (wv: Parameters<typeof evaluateAnalogies>[0]) => {
  const s = evaluateAnalogies(wv, questions);
  return {
    overall: s.overall.correct / s.overall.asked,
    asked: s.overall.asked,
    sections: Object.fromEntries(s.sections.map((x) => [x.section, +(x.correct / x.asked).toFixed(4)])),
  };
};
const range = (xs: number[]) => ({
  min: Math.min(...xs),
  max: Math.max(...xs),
  mean: xs.reduce((a, b) => a + b) / xs.length,
});

interface Run {
  seed: number;
  seconds: number;
  wordsPerSecond: number;
  /** CPU time of all the run's threads: steadier than wall time on a shared machine. */
  cpuSeconds: number;
  wordsPerCpuSecond: number;
  accuracy: ReturnType<typeof score>;
  load: number;
}

const ours: Run[] = [];
const gensim: Run[] = [];
let gensimInfo: unknown = null;
let corpusWords = 0;
for (let i = 0; i < runs; i++) {
  const seed = i + 1;
  // glasslm: from the text to trained vectors.
  const load = loadavg()[0]!;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await trainWord2VecThreads(text, { threads, seed, epochs }).done;
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  corpusWords = r.corpusWords;
  ours.push({
    seed,
    seconds,
    wordsPerSecond: (r.corpusWords * epochs) / seconds,
    cpuSeconds,
    wordsPerCpuSecond: (r.corpusWords * epochs) / cpuSeconds,
    accuracy: score(r.vectors),
    load,
  });
  console.error(
    `glasslm run ${seed}: ${seconds.toFixed(1)}s, ${ours.at(-1)!.wordsPerSecond.toFixed(0)} words/s, accuracy ${ours.at(-1)!.accuracy.overall.toFixed(3)}`,
  );
  if (values['no-gensim']) continue;
  const out = here('./.cache/gensim-kjv.bin');
  const g = spawnSync(
    '/usr/bin/python3',
    [
      here('./word2vec_gensim.py'),
      '--corpus',
      corpusPath,
      '--out',
      out,
      '--threads',
      String(threads),
      '--seed',
      String(seed),
      '--epochs',
      String(epochs),
    ],
    { encoding: 'utf8' },
  );
  const last = JSON.parse(g.stdout.trim().split('\n').at(-1) ?? 'null') as
    { seconds: number; cpuSeconds: number; corpusWords: number } | { gensim: null } | null;
  if (!last || !('seconds' in last)) {
    console.error(
      `gensim: not run (${g.status === 3 ? 'no gensim for /usr/bin/python3' : g.stderr.trim().split('\n').at(-1)})`,
    );
    break;
  }
  gensimInfo = last;
  gensim.push({
    seed,
    seconds: last.seconds,
    wordsPerSecond: (last.corpusWords * epochs) / last.seconds,
    cpuSeconds: last.cpuSeconds,
    wordsPerCpuSecond: (last.corpusWords * epochs) / last.cpuSeconds,
    accuracy: score(await loadWordVectors(out)),
    load: loadavg()[0]!,
  });
  console.error(
    `gensim run ${seed}: ${last.seconds.toFixed(1)}s, ${gensim.at(-1)!.wordsPerSecond.toFixed(0)} words/s, accuracy ${gensim.at(-1)!.accuracy.overall.toFixed(3)}`,
  );
}

const summary = (rs: Run[]) =>
  rs.length === 0
    ? null
    : {
        wordsPerSecond: range(rs.map((r) => r.wordsPerSecond)),
        wordsPerCpuSecond: range(rs.map((r) => r.wordsPerCpuSecond)),
        accuracy: range(rs.map((r) => r.accuracy.overall)),
        runs: rs,
      };
const result = {
  bench: 'word2vec',
  corpus: { name: 'KJV (Debian bible-kjv)', words: corpusWords, lines: text.split('\n').length },
  settings: {
    sg: true,
    dim: 100,
    window: 5,
    negative: 5,
    sample: 1e-3,
    minCount: 5,
    epochs,
    alpha: 0.025,
    threads,
  },
  analogies: { file: 'bench/data/kjv-analogies.txt', questions: lines.length - Object.keys(SECTIONS).length },
  glasslm: summary(ours),
  gensim: gensim.length > 0 ? { ...(gensimInfo as object), ...summary(gensim) } : null,
  cpuSpeedRatio:
    gensim.length > 0
      ? range(
          ours
            .map((r, i) => r.wordsPerCpuSecond / (gensim[i]?.wordsPerCpuSecond ?? NaN))
            .filter(Number.isFinite),
        )
      : null,
  speedRatio:
    gensim.length > 0
      ? range(
          ours.map((r, i) => r.wordsPerSecond / (gensim[i]?.wordsPerSecond ?? NaN)).filter(Number.isFinite),
        )
      : null,
  machine: machine(),
  loadavg: loadavg(),
  date: new Date().toISOString(),
};
console.log(
  JSON.stringify(
    {
      ...result,
      glasslm: result.glasslm && { ...result.glasslm, runs: undefined },
      gensim: result.gensim && { ...result.gensim, runs: undefined },
    },
    null,
    2,
  ),
);
mkdirSync(here('./results/'), { recursive: true });
writeFileSync(
  here(`./results/word2vec-${result.date.replace(/[:.]/g, '-')}.json`),
  JSON.stringify(result, null, 2) + '\n',
);
