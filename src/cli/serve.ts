// `glasslm serve`: load a model and serve the explorer page plus its JSON API (src/server/app.ts).
import { InvalidArgumentError, type Command } from 'commander';
import { loadEmbeddingModel } from '../embed/load.js';
import { startServer } from '../server/app.js';
import { defaultWebRoot } from '../server/static.js';
import { isLoopbackAddress } from '../server/guard.js';
import { GlassError, isGlassError } from '../util/errors.js';
import {
  addEngineOptions,
  loadCliModel,
  loadCliVectors,
  modelOption,
  type EngineCliOptions,
} from './common.js';

function portOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('port must be an integer in 0..65535');
  return n;
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be an integer >= 1`);
    return n;
  };
}

interface ServeCliOptions extends EngineCliOptions {
  model?: string;
  tokenizer?: string;
  revision?: string;
  port: number;
  host: string;
  embedder?: string;
  vectors?: string;
  apiKey?: string;
  parallel: number;
  queue: number;
  maxMemoryMb: number;
  maxTraceMb: number;
  cors?: string;
  grace: number;
}

export function register(program: Command): void {
  addEngineOptions(
    program
      .command('serve')
      .description(
        'serve the explorer (follow a prompt through the model in the browser) and an OpenAI-compatible API',
      )
      .addOption(modelOption())
      .option(
        '--tokenizer <file>',
        'tokenizer file (tokenizer.bin/.model/.json) for a checkpoint that has none',
      )
      .option('--revision <rev>', 'hub revision (branch, tag or commit)', 'main')
      .option(
        '--embedder <folder|hub-id>',
        'also load an embedding model (BERT / sentence-transformers): the similarity panel, /v1/embeddings',
      )
      .option(
        '--vectors <file>',
        'word vectors for the word map and the static row of the context view (word2vec text/binary or GloVe; ' +
          'default: the bundled KJV vectors)',
      )
      .option('-p, --port <n>', 'port to listen on (0 = any free port)', portOption, 8765)
      .option(
        '--host <host>',
        'address to listen on (loopback by default; any other needs --api-key)',
        '127.0.0.1',
      )
      .option(
        '--api-key <key>',
        'require Authorization: Bearer <key> on /api and /v1 (default: $GLASSLM_API_KEY; needed off loopback)',
      )
      .option(
        '--parallel <n>',
        'requests generated at once (/v1 ones in one continuous batch) and traces',
        positiveInt('--parallel'),
        4,
      )
      .option('--queue <n>', 'requests that may wait for a slot (past it: 429)', positiveInt('--queue'), 16)
      .option(
        '--max-memory-mb <n>',
        'memory (KV caches, traces) the running requests may hold together',
        positiveInt('--max-memory-mb'),
        1024,
      )
      .option(
        '--max-trace-mb <n>',
        'largest trace answered (estimated JSON)',
        positiveInt('--max-trace-mb'),
        64,
      )
      .option('--cors <origin>', 'let pages from this one origin call /v1 (default: no CORS)')
      .option(
        '--grace <seconds>',
        'on SIGTERM/SIGINT: how long running generations may finish before they are ended',
        positiveInt('--grace'),
        10,
      ),
  )
    .addHelpText(
      'after',
      `
OpenAI-compatible API (beside the explorer's /api/, same server and port):
  GET  /v1/models            POST /v1/completions       POST /v1/chat/completions
  POST /v1/embeddings (with --embedder)                 GET  /health
  Fields: max_tokens | max_completion_tokens, temperature, top_p, seed, stop, n (<= 8), logprobs
  (+ top_logprobs in chat), presence_penalty, frequency_penalty, stream (SSE, ends with data: [DONE]),
  stream_options.include_usage; any other field is a 400 naming it. Extension: "glasslm": {"trace": {…}}
  adds the trace of the generated tokens (/api/trace's schema). A model without a chat template gets
  the plain "User: … / Assistant:" one (response header x-glasslm-chat-template: plain).
  Requests that arrive while others generate join the running batch (--parallel slots, then a queue
  of --queue, then 429 with Retry-After). The model id is the model's file or folder name (GET /v1/models).

Examples:
  $ glasslm serve --model ../shared/models/stories260K-llama2c/stories260K.bin --port 8765
  $ curl http://127.0.0.1:8765/v1/completions -H 'content-type: application/json' \\
      -d '{"model": "stories260K.bin", "prompt": "Once upon a time", "max_tokens": 30}'`,
    )
    .action(async (opts: ServeCliOptions) => {
      const apiKey = opts.apiKey ?? (process.env.GLASSLM_API_KEY || undefined);
      if (!isLoopbackAddress(opts.host) && !apiKey) {
        throw new GlassError(
          'BAD_INPUT',
          `refusing to listen on ${opts.host} without an API key: pass --api-key <key> or set GLASSLM_API_KEY`,
        );
      }
      const model = await loadCliModel(opts, opts);
      const embedder = opts.embedder ? await loadEmbeddingModel(opts.embedder) : null;
      const wordVectors = await loadCliVectors(opts.vectors);
      const server = await startServer(model, {
        host: opts.host,
        port: opts.port,
        embedder,
        wordVectors,
        apiKey,
        cors: opts.cors ?? null,
        limits: {
          parallel: opts.parallel,
          queue: opts.queue,
          maxBytes: opts.maxMemoryMb * 2 ** 20,
          maxTraceBytes: opts.maxTraceMb * 2 ** 20,
        },
      }).catch((e: NodeJS.ErrnoException) => {
        if (isGlassError(e)) throw e;
        throw new GlassError(
          'BAD_INPUT',
          `cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`,
        );
      });
      if (!defaultWebRoot()) {
        process.stderr.write(
          'glasslm: the explorer page is not built (npm run build:web); serving the API only\n',
        );
      }
      // Off loopback the page needs the key: its address carries it in the fragment (never sent to the server).
      const pageUrl = apiKey ? `${server.url}#key=${encodeURIComponent(apiKey)}` : server.url;
      process.stdout.write(`glasslm explorer for ${model.source} at ${pageUrl}\n`);
      // Running generations finish (up to --grace seconds, then their streams end with an error event and
      // [DONE]); new ones are refused meanwhile (503). A second signal exits at once.
      const stop = () => {
        process.once('SIGINT', () => process.exit(1));
        process.once('SIGTERM', () => process.exit(1));
        process.stderr.write(`glasslm: shutting down (running generations get up to ${opts.grace} s)\n`);
        void server.shutdown(opts.grace * 1000).then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
