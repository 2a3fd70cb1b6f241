// `glasslm word2vec`: static word vectors — train them on a text (skip-gram or CBOW, word2vec.c's and
// gensim's settings), and ask them for nearest words, similarities and analogies, or score them on an
// analogy file. Parsing and printing only: the work is in src/word2vec/.
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { writeVocab } from '../word2vec/formats.js';
import { loadWordVectors, saveWordVectors } from '../word2vec/load-node.js';
import { analogy, evaluateAnalogies, nearest, similarity, type AnalogyMethod } from '../word2vec/query.js';
import { trainWord2VecThreads, type TrainProgress } from '../word2vec/train-node.js';
import type { WordVectors } from '../word2vec/vectors.js';
import { GlassError, isGlassError } from '../util/errors.js';
import { floatOption, intOption } from './common.js';

interface TrainCli {
  data: string;
  out: string;
  cbow?: boolean;
  hs?: boolean;
  negative?: number;
  sample?: number;
  minCount?: number;
  window?: number;
  alpha?: number;
  minAlpha?: number;
  epochs?: number;
  dim?: number;
  threads?: number;
  seed?: number;
  lowercase?: boolean;
  saveVocab?: string;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '-';
  return s < 60
    ? `${s.toFixed(0)}s`
    : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

async function train(o: TrainCli): Promise<void> {
  const text = await readFile(o.data, 'utf8').catch((e: Error) => {
    throw new GlassError('NOT_FOUND', `cannot read --data ${o.data}: ${e.message}`);
  });
  const threads = o.threads ?? Math.min(4, availableParallelism());
  const run = trainWord2VecThreads(text, { ...o, threads }, (p) => show(p), 250);
  // Ctrl-C: the workers stop at their next 10 000-word mark and what they have is saved.
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\nglasslm: stopping and saving the vectors so far (Ctrl-C again to quit now)\n');
    run.stop();
  };
  process.on('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: 'words {percentage}% [{bar}] {wps} words/s · loss {loss} · α {alpha} · ETA {eta_s}',
          barsize: 24,
          hideCursor: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let lastLine = 0;
  function show(p: TrainProgress): void {
    const wps = p.seconds > 0 ? p.words / p.seconds : 0;
    const payload = {
      wps: wps.toFixed(0),
      loss: Number.isFinite(p.loss) ? p.loss.toFixed(4) : '-',
      alpha: p.alpha.toFixed(5),
      eta_s: duration(wps > 0 ? (p.planned - p.words) / wps : Infinity),
    };
    if (bar) {
      if (!bar.isActive) bar.start(p.planned, 0, payload);
      bar.update(p.words, payload);
    } else if (p.seconds - lastLine >= 5) {
      lastLine = p.seconds;
      process.stderr.write(
        `words ${p.words}/${p.planned} · ${payload.wps} words/s · loss ${payload.loss} · ETA ${payload.eta_s}\n`,
      );
    }
  }
  let r;
  try {
    r = await run.done;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
  await saveWordVectors(o.out, r.vectors);
  if (o.saveVocab) await writeFile(o.saveVocab, writeVocab(r.vectors.words, r.vectors.counts ?? []));
  process.stderr.write(
    `${r.stopped ? 'stopped' : 'done'}: ${r.vocabSize} words × ${r.vectors.dim} · ${r.corpusWords} corpus words · ` +
      `${r.words} read in ${r.seconds.toFixed(1)}s (${(r.words / r.seconds).toFixed(0)} words/s, ${threads} threads) · ` +
      `loss ${r.loss.toFixed(4)} · saved ${o.out} (${o.out.endsWith('.bin') ? 'binary' : 'text'})` +
      (o.saveVocab ? ` and the counts to ${o.saveVocab}` : '') +
      '\n',
  );
  if (interrupted) process.exitCode = 130;
}

async function load(path: string | undefined): Promise<WordVectors> {
  if (!path)
    throw new GlassError('BAD_INPUT', '--vectors <file> is required (word2vec text/binary or GloVe)');
  return loadWordVectors(path).catch((e: Error) => {
    throw new GlassError(isGlassError(e) ? e.code : 'NOT_FOUND', `cannot load ${path}: ${e.message}`);
  });
}

const listing = (xs: Array<{ word: string; score: number }>) =>
  xs.map((x) => `${x.score.toFixed(4)}  ${x.word}`).join('\n') + '\n';

export function register(program: Command): void {
  const w2v = program
    .command('word2vec')
    .description('static word vectors: train (skip-gram/CBOW) and query word2vec or GloVe files');

  w2v
    .command('train')
    .description(
      'train word2vec on a text (words = whitespace-separated, one sentence per line); --out *.bin writes binary, else text',
    )
    .requiredOption('--data <file>', 'training text')
    .requiredOption('--out <file>', 'vectors file: .bin → word2vec binary, anything else → word2vec text')
    .option('--cbow', 'CBOW (predict a word from its context mean) instead of skip-gram')
    .option('--hs', 'hierarchical softmax (Huffman tree); combine with --negative 0 for hs alone')
    .option('--negative <n>', 'noise words per target, 0 = off (default 5)', intOption('negative', 0))
    .option(
      '--sample <x>',
      'subsampling threshold for frequent words, 0 = off (default 1e-3)',
      floatOption('sample', 0),
    )
    .option('--min-count <n>', 'drop words seen fewer times (default 5)', intOption('min-count', 1))
    .option(
      '--window <n>',
      'max context distance, shrunk at random per word (default 5)',
      intOption('window', 1),
    )
    .option(
      '--alpha <x>',
      'starting learning rate (default 0.025 skip-gram, 0.05 CBOW)',
      floatOption('alpha', 0),
    )
    .option(
      '--min-alpha <x>',
      'final learning rate of the linear decay (default 1e-4)',
      floatOption('min-alpha', 0),
    )
    .option('--epochs <n>', 'passes over the text (default 5)', intOption('epochs', 1))
    .option('--dim <n>', 'vector size (default 100)', intOption('dim', 1))
    .option(
      '--threads <n>',
      'worker threads, lock-free; on a small model each trains a replica merged every 10 000 words ' +
        `(default min(4, cores) = ${Math.min(4, availableParallelism())})`,
      intOption('threads', 1),
    )
    .option(
      '--seed <n>',
      'random seed (one thread: the same seed gives the same vectors)',
      intOption('seed', 0),
    )
    .option('--lowercase', 'fold the text to lower case first')
    .option(
      '--save-vocab <file>',
      'also write the vocabulary with its corpus counts, "word count" per line (word2vec.c -save-vocab)',
    )
    .action(async (o: TrainCli) => train(o));

  const vectorsOption = ['--vectors <file>', 'word2vec text/binary or GloVe text file'] as const;
  const restrictOption = ['--restrict <n>', 'only the n most frequent words (the first n rows)'] as const;

  w2v
    .command('nearest')
    .description('the words nearest to a word by cosine')
    .argument('<word>')
    .option(...vectorsOption)
    .option('-k, --top <n>', 'how many (default 10)', intOption('top', 1), 10)
    .option(...restrictOption, intOption('restrict', 1))
    .action(async (word: string, o: { vectors?: string; top: number; restrict?: number }) => {
      const wv = await load(o.vectors);
      process.stdout.write(listing(nearest(wv, word, { k: o.top, restrict: o.restrict })));
    });

  w2v
    .command('analogy')
    .description('a − b + c: `analogy king man woman` asks man : king :: woman : ? (queen)')
    .argument('<a>')
    .argument('<b>')
    .argument('<c>')
    .option(...vectorsOption)
    .option('--method <m>', '3CosAdd (add) or 3CosMul (mul)', 'add')
    .option('-k, --top <n>', 'how many (default 5)', intOption('top', 1), 5)
    .option(...restrictOption, intOption('restrict', 1))
    .action(
      async (
        a: string,
        b: string,
        c: string,
        o: { vectors?: string; method: string; top: number; restrict?: number },
      ) => {
        if (o.method !== 'add' && o.method !== 'mul') {
          throw new GlassError(
            'BAD_INPUT',
            `--method must be add (3CosAdd) or mul (3CosMul), not ${o.method}`,
          );
        }
        const wv = await load(o.vectors);
        // a − b + c is b : a :: c : ?
        const method = o.method as AnalogyMethod;
        process.stdout.write(listing(analogy(wv, b, a, c, { k: o.top, restrict: o.restrict, method })));
      },
    );

  w2v
    .command('similarity')
    .description('the cosine of two words')
    .argument('<a>')
    .argument('<b>')
    .option(...vectorsOption)
    .action(async (a: string, b: string, o: { vectors?: string }) => {
      const wv = await load(o.vectors);
      process.stdout.write(`${similarity(wv, a, b).toFixed(6)}\n`);
    });

  w2v
    .command('eval')
    .description('analogy accuracy per section and overall (questions-words.txt format)')
    .requiredOption('--analogies <file>', '": section" lines, then "a b c d" lines (a : b :: c : d)')
    .option(...vectorsOption)
    .option(
      '--restrict <n>',
      'only the n most frequent words (default 300000, as gensim)',
      intOption('restrict', 1),
      300000,
    )
    .option('--method <m>', '3CosAdd (add) or 3CosMul (mul)', 'add')
    .option('--case-sensitive', 'compare words as written (default: case-insensitive, as gensim)')
    .option('--json', 'print the scores as JSON')
    .action(
      async (o: {
        vectors?: string;
        analogies: string;
        restrict: number;
        method: string;
        caseSensitive?: boolean;
        json?: boolean;
      }) => {
        const wv = await load(o.vectors);
        const questions = await readFile(o.analogies, 'utf8').catch((e: Error) => {
          throw new GlassError('NOT_FOUND', `cannot read --analogies ${o.analogies}: ${e.message}`);
        });
        const s = evaluateAnalogies(wv, questions, {
          restrict: o.restrict,
          method: o.method === 'mul' ? 'mul' : 'add',
          caseInsensitive: !o.caseSensitive,
        });
        if (o.json) {
          process.stdout.write(JSON.stringify(s, null, 2) + '\n');
          return;
        }
        const pct = (x: { correct: number; asked: number }) =>
          x.asked > 0 ? `${((100 * x.correct) / x.asked).toFixed(1)}%` : '-';
        for (const x of [...s.sections, s.overall]) {
          process.stdout.write(
            `${x.section.padEnd(28)} ${pct(x).padStart(6)}  ${x.correct}/${x.asked}` +
              (x.skipped > 0 ? ` (${x.skipped} skipped: a word outside the vocabulary)` : '') +
              '\n',
          );
        }
      },
    );
}
