// `glasslm index <folder> --db <store>`: chunk and embed a folder of documents into a search store.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadEmbeddingModel } from '../embed/load.js';
import { GlassError } from '../util/errors.js';
import { DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP } from '../search/chunk.js';
import {
  DEFAULT_EMBEDDER,
  defaultEmbedderPath,
  textEmbedder,
  type TextEmbedder,
} from '../search/embedder.js';
import { indexFolder, IndexInterrupted } from '../search/indexer.js';
import { checkDbSpec } from '../search/db.js';
import { VectorStore } from '../search/store.js';
import { intOption, selectKernels, threadsOption } from './common.js';
import { packageRoot } from '../package-node.js';

/** --model of index and search. */
export const MODEL_HELP =
  'the embedding model: a folder, a hub id or word2vec:<vectors file> (default: the one the store was ' +
  `made with, else the bundled ${DEFAULT_EMBEDDER}: KJV word vectors, SIF-weighted)`;

export const DB_HELP =
  'the store: a folder (embedded PostgreSQL via PGlite, created if missing) or postgres://user:pass@host:port/db (a server with pgvector)';

/**
 * The embedding model a command uses (embed, similarity, index, search): --model, else the one the store
 * was made with, else the bundled default.
 */
export async function resolveEmbedderSource(
  model: string | undefined,
  db?: string,
  storeModel?: string,
): Promise<string> {
  if (model) return model;
  if (storeModel) return storeModel;
  const d = defaultEmbedderPath(packageRoot());
  if (d) return d;
  throw new GlassError(
    'BAD_INPUT',
    `no --model given and the default embedding model (${DEFAULT_EMBEDDER}) is not installed; pass --model <folder|hub-id> ` +
      `(e.g. --model sentence-transformers/all-MiniLM-L6-v2)${db ? ` to make the vectors of ${db}` : ''}`,
  );
}

/** Says on stderr, once per process, that the store is busy and this command waits for it. */
export function storeWaitNotice(): (message: string) => void {
  let told = false;
  return (message) => {
    if (told) return;
    told = true;
    process.stderr.write(`glasslm: ${message}\n`);
  };
}

/** The model the store at `db` was made with, if there is a store there (nothing is created). */
export async function storeModelName(
  db: string,
  onWait?: (message: string) => void,
): Promise<string | undefined> {
  let store: VectorStore;
  try {
    store = await VectorStore.open(db, { create: false, onWait, purpose: 'glasslm index' });
  } catch (e) {
    if (e instanceof GlassError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
  try {
    return (await store.model())?.model;
  } finally {
    await store.close();
  }
}

/** Loads the embedding model on the chosen kernels, as the store records it. */
export async function loadTextEmbedder(source: string, threads: number): Promise<TextEmbedder> {
  await selectKernels(threads);
  const e = await loadEmbeddingModel(source);
  return textEmbedder(e, source, (text, n, kept) =>
    process.stderr.write(
      `glasslm: warning: ${JSON.stringify(text.slice(0, 30))}… is ${n} tokens; only the first ${kept} are used\n`,
    ),
  );
}

interface IndexCliOptions {
  db: string;
  check?: boolean;
  model?: string;
  chunkTokens: number;
  overlap: number;
  batch: number;
  threads: number;
}

export function register(program: Command): void {
  program
    .command('index')
    .description('chunk and embed a folder of .txt/.md documents into a semantic-search store')
    .argument('[folder]', 'the documents: every .txt and .md file under it (or one file)')
    .requiredOption('--db <folder|url>', DB_HELP)
    .option('--check', "check the store's consistency instead of indexing (exit 2 when it is broken)")
    .option('-m, --model <folder|hub-id>', MODEL_HELP)
    .option(
      '--chunk-tokens <n>',
      'most tokens per chunk (paragraphs are packed up to it)',
      intOption('chunk-tokens', 1),
      DEFAULT_CHUNK_TOKENS,
    )
    .option(
      '--overlap <n>',
      'paragraphs repeated at the start of the next chunk',
      intOption('overlap', 0),
      DEFAULT_OVERLAP,
    )
    .option('--batch <n>', 'chunks per embedding call', intOption('batch', 1), 8)
    .addOption(threadsOption(availableParallelism()))
    .addHelpText(
      'after',
      `
Re-indexing the same folder embeds only what changed: files are compared by content hash, a changed
file's chunks reuse the vectors of unchanged text, and deleted files are removed. Each file is stored in
one transaction, so an interrupted run (Ctrl-C) resumes where it stopped, with no duplicates. One run
writes to a store at a time: a second one waits for the first (a stale lock left by a killed run is taken
over). \`--check\` verifies that every chunk belongs to a file, no chunk is stored twice and every file
holds the chunks it records.

Examples:
  $ glasslm index docs/ --db ./docs.db            # the bundled ${DEFAULT_EMBEDDER}
  $ glasslm index docs/ --db ./docs.db            # again: only the changes
  $ glasslm index notes/ --db ./notes.db --model sentence-transformers/all-MiniLM-L6-v2
  $ glasslm index docs/ --db postgres://me@dbhost/search --model ./all-MiniLM-L6-v2
  $ glasslm index --check --db ./docs.db`,
    )
    .action(async (folder: string | undefined, opts: IndexCliOptions) => {
      const t0 = Date.now();
      const onWait = storeWaitNotice();
      if (opts.check) return checkStore(opts.db, onWait);
      if (folder === undefined) {
        throw new GlassError(
          'BAD_INPUT',
          'no folder given: `glasslm index <folder> --db <store>` (or --check)',
        );
      }
      if (!existsSync(folder)) throw new GlassError('NOT_FOUND', `${resolve(folder)}: no such folder`);
      checkDbSpec(opts.db);
      const source = await resolveEmbedderSource(
        opts.model,
        opts.db,
        opts.model ? undefined : await storeModelName(opts.db, onWait),
      );
      const embedder = await loadTextEmbedder(source, opts.threads);
      const store = await VectorStore.open(opts.db, {
        create: true,
        writer: true,
        onWait,
        purpose: 'glasslm index',
      });
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar(
            {
              format: 'embedding [{bar}] {percentage}% {value}/{total} chunks {file}',
              hideCursor: true,
              stream: process.stderr,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
      let barStarted = false;
      try {
        const r = await indexFolder(store, folder, embedder, {
          chunkTokens: opts.chunkTokens,
          overlap: opts.overlap,
          batch: opts.batch,
          signal: abort.signal,
          onWarning: (m) => process.stderr.write(`glasslm: warning: ${m}\n`),
          onProgress: (e) => {
            if (e.phase === 'plan' && bar && e.chunks > 0) {
              bar.start(e.chunks, 0, { file: '' });
              barStarted = true;
            } else if (e.phase === 'embed' && barStarted) {
              bar?.update(e.done, { file: e.file.split(/[\\/]/).pop() });
            } else if (e.phase === 'hnsw') {
              if (barStarted) bar?.stop();
              barStarted = false;
              process.stderr.write('building the HNSW index…\n');
            }
          },
        });
        if (barStarted) bar?.stop();
        barStarted = false;
        process.stdout.write(
          `indexed ${r.files} files into ${store.location}: ${r.added} new, ${r.updated} changed, ` +
            `${r.unchanged} unchanged, ${r.deleted} deleted` +
            (r.skipped.length ? `, ${r.skipped.length} not UTF-8 (left out)` : '') +
            `\n${r.chunks} chunks written (${r.embedded} embedded, ${r.reused} reused) · ` +
            `the store holds ${r.store.files} files, ${r.store.chunks} chunks\n`,
        );
        process.stderr.write(
          `${embedder.model} · ${embedder.dim} dims · chunks ≤ ${r.chunkTokens} tokens, overlap ${r.overlap} ` +
            `paragraph${r.overlap === 1 ? '' : 's'} · ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
        );
      } catch (e) {
        if (barStarted) bar?.stop();
        if (e instanceof IndexInterrupted) {
          await store.close();
          process.stderr.write(
            `glasslm: interrupted: ${e.filesDone} of ${e.filesTotal} changed files stored; ` +
              `run the same command again to finish\n`,
          );
          process.exit(130);
        }
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
        await store.close();
      }
    });
}

/** `glasslm index --check`: the store's invariants; one line naming every problem, exit 2, when broken. */
async function checkStore(db: string, onWait: (message: string) => void): Promise<void> {
  const store = await VectorStore.open(db, { create: false, onWait, purpose: 'glasslm index --check' });
  try {
    const problems = await store.check();
    if (problems.length > 0) {
      throw new GlassError(
        'BAD_FILE',
        `${store.location}: the store is inconsistent: ${problems.join('; ')} ` +
          `(index into a new --db to rebuild it)`,
      );
    }
    const { files, chunks } = await store.counts();
    process.stdout.write(`${store.location}: consistent (${files} files, ${chunks} chunks)\n`);
  } finally {
    await store.close();
  }
}
