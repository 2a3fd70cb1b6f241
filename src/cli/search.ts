// `glasslm search --db <store> "query"`: the passages nearest in meaning to a query.
import { availableParallelism } from 'node:os';
import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { GlassError } from '../util/errors.js';
import { searchStore } from '../search/indexer.js';
import { DEFAULT_EF_SEARCH, MAX_EF_SEARCH, VectorStore, type Hit } from '../search/store.js';
import { intOption, printable, threadsOption } from './common.js';
import { loadTextEmbedder, MODEL_HELP, resolveEmbedderSource, storeWaitNotice } from './index-cmd.js';

interface SearchCliOptions {
  db: string;
  model?: string;
  k: number;
  exact?: boolean;
  efSearch: number;
  json?: boolean;
  threads: number;
}

/** A path as the user will want to click it: relative to the working folder when inside it. */
function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : path;
}

function printHit(h: Hit, rank: number): string {
  const lines = h.startLine === h.endLine ? `line ${h.startLine}` : `lines ${h.startLine}–${h.endLine}`;
  const body = printable(h.text)
    .split('\n')
    .map((l) => `    ${l}`.trimEnd())
    .join('\n');
  return `[${rank}] ${h.score.toFixed(4)}  ${printable(shown(h.path))}:${h.startLine}  (${lines})\n${body}\n`;
}

export function register(program: Command): void {
  program
    .command('search')
    .description('find the passages nearest in meaning to a query in a store made by `glasslm index`')
    .argument('<query...>', 'what to look for (several words are joined with spaces)')
    .requiredOption(
      '--db <folder|url>',
      'the store made by `glasslm index`: its folder (embedded PostgreSQL via PGlite) or postgres://user:pass@host:port/db',
    )
    .option('-k, --k <n>', 'how many matches', intOption('k', 1), 5)
    .option('--exact', 'scan every vector (exact nearest neighbours) instead of the HNSW index')
    .option(
      '--ef-search <n>',
      'HNSW search effort (candidates kept; more = better recall, slower)',
      intOption('ef-search', 1),
      DEFAULT_EF_SEARCH,
    )
    .option('-m, --model <folder|hub-id>', MODEL_HELP)
    .option('--json', 'one JSON object per match instead of text')
    .addOption(threadsOption(availableParallelism()))
    .addHelpText(
      'after',
      `
Prints each match's cosine similarity, file:line and passage. The query is embedded with the model the
store was made with (another model is refused: its vectors are not comparable).

Examples:
  $ glasslm search --db ./docs.db "how do I reset my password"
  $ glasslm search --db ./docs.db -k 10 --exact "river bank"`,
    )
    .action(async (words: string[], opts: SearchCliOptions) => {
      const query = words.join(' ');
      if (!query.trim()) throw new GlassError('BAD_INPUT', 'the query is empty');
      if (opts.efSearch > MAX_EF_SEARCH) {
        throw new GlassError('BAD_INPUT', `--ef-search must be at most ${MAX_EF_SEARCH}`);
      }
      const store = await VectorStore.open(opts.db, {
        create: false,
        onWait: storeWaitNotice(),
        purpose: 'glasslm search',
      });
      try {
        const have = await store.model();
        if (!have) {
          throw new GlassError(
            'NOT_FOUND',
            `${store.location}: the store is empty (run \`glasslm index\` first)`,
          );
        }
        let embedder;
        try {
          embedder = await loadTextEmbedder(
            await resolveEmbedderSource(opts.model, opts.db, have.model),
            opts.threads,
          );
        } catch (e) {
          if (!opts.model && e instanceof GlassError && e.code === 'NOT_FOUND') {
            throw new GlassError(
              'BAD_INPUT',
              `the store's model ${have.model} cannot be loaded here (${e.message}); pass --model <folder|hub-id>`,
            );
          }
          throw e;
        }
        const t0 = performance.now();
        const hits = await searchStore(store, embedder, query, {
          k: opts.k,
          exact: opts.exact,
          efSearch: Math.max(opts.efSearch, opts.k),
        });
        const ms = performance.now() - t0;
        if (opts.json) {
          for (const [i, h] of hits.entries()) {
            process.stdout.write(
              JSON.stringify({
                rank: i + 1,
                score: h.score,
                path: h.path,
                startLine: h.startLine,
                endLine: h.endLine,
                startChar: h.startChar,
                endChar: h.endChar,
                startByte: h.startByte,
                endByte: h.endByte,
                text: h.text,
              }) + '\n',
            );
          }
        } else {
          process.stdout.write(hits.map((h, i) => printHit(h, i + 1)).join('\n'));
        }
        const { chunks } = await store.counts();
        process.stderr.write(
          `${hits.length} of ${chunks} chunks · ${opts.exact ? 'exact scan' : `HNSW, ef_search ${Math.max(opts.efSearch, opts.k)}`}` +
            ` · ${ms.toFixed(0)} ms (query embedded and searched) · ${embedder.model}\n`,
        );
      } finally {
        await store.close();
      }
    });
}
