// `glasslm serve`: load a model and serve the explorer page plus its JSON API (src/server/app.ts).
import { InvalidArgumentError, type Command } from 'commander';
import { loadEmbedder } from '../embed/load.js';
import { startServer } from '../server/app.js';
import { defaultWebRoot } from '../server/static.js';
import { GlassError } from '../util/errors.js';
import { addEngineOptions, loadCliModel, modelOption, type EngineCliOptions } from './common.js';

function portOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('port must be an integer in 0..65535');
  return n;
}

interface ServeCliOptions extends EngineCliOptions {
  model?: string;
  tokenizer?: string;
  revision?: string;
  port: number;
  host: string;
  embedder?: string;
}

export function register(program: Command): void {
  addEngineOptions(
    program
      .command('serve')
      .description('serve the explorer: follow a prompt through the model in the browser')
      .addOption(modelOption())
      .option(
        '--tokenizer <file>',
        'tokenizer file (tokenizer.bin/.model/.json) for a checkpoint that has none',
      )
      .option('--revision <rev>', 'hub revision (branch, tag or commit)', 'main')
      .option(
        '--embedder <folder|hub-id>',
        'also load an embedding model (BERT / sentence-transformers) for the similarity panel',
      )
      .option('-p, --port <n>', 'port to listen on (0 = any free port)', portOption, 8765)
      .option(
        '--host <host>',
        'address to listen on (loopback by default; the API has no authentication)',
        '127.0.0.1',
      ),
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ glasslm serve --model ../shared/models/stories260K-llama2c/stories260K.bin --port 8765',
    )
    .action(async (opts: ServeCliOptions) => {
      const model = await loadCliModel(opts, opts);
      const embedder = opts.embedder ? await loadEmbedder(opts.embedder) : null;
      const server = await startServer(model, { host: opts.host, port: opts.port, embedder }).catch(
        (e: NodeJS.ErrnoException) => {
          throw new GlassError(
            'BAD_INPUT',
            `cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`,
          );
        },
      );
      if (!defaultWebRoot()) {
        process.stderr.write(
          'glasslm: the explorer page is not built (npm run build:web); serving the API only\n',
        );
      }
      process.stdout.write(`glasslm explorer for ${model.source} at ${server.url}\n`);
      const stop = () => {
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
