// `glasslm serve`: the explorer page (web/dist) and a JSON API over one loaded model, on loopback.
// Node-only. Everything is computed here from the model in memory: the server makes no outbound
// requests, and the page it serves loads nothing from elsewhere.
//
//   GET  /api/model                                  → TraceModelInfo
//   POST /api/tokenize   { text }                    → { tokens: TraceToken[], count }
//   POST /api/trace      { prompt, options? }        → Trace
//   POST /api/embeddings { words }                   → { dim, words: [{ word, tokens, vector }] }
//   POST /api/generate   { prompt, steps, temperature?, seed?, forced?, topK?, precision? }
//                                                    → NDJSON: one TraceStep per line, as produced
//   GET  /api/embedder                               → { embedder: EmbedderInfo | null }
//   POST /api/similarity { a, b, top? }              → SimilarityExplanation (src/embed/explain.ts;
//                                                      pairs to 6 significant digits); 404 without an
//                                                      embedding model (glasslm serve --embedder)
// Bad bodies → 400 { error }; a GlassError from the model → 400 { error: its message }.
import { Readable } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { SentenceEmbedder } from '../embed/embedder.js';
import type { SimilarityExplanation } from '../embed/explain.js';
import type { PoolingMode } from '../embed/pooling.js';
import type { LanguageModel } from '../models/model.js';
import type { TraceOptions, TraceStep } from '../trace/schema.js';
import { modelInfo } from '../trace/trace.js';
import { isGlassError } from '../util/errors.js';
import { embeddingsAnswer, tokenizeAnswer } from './answers.js';
import { NOT_BUILT_PAGE, defaultWebRoot, staticFile } from './static.js';
import { traceSteps } from './steps.js';

export { promptTokens, wordEmbedding } from './answers.js';

export interface AppOptions {
  /** The built explorer folder (default: web/dist of the package, when built); null serves none. */
  webRoot?: string | null;
  /** Fastify's request log (default off). */
  logger?: boolean;
  /**
   * Answer only requests addressed to a loopback name (Host: 127.0.0.1, localhost, [::1]), so that a web
   * page elsewhere cannot reach the API by rebinding its DNS name to 127.0.0.1. startServer sets it
   * when listening on loopback.
   */
  loopbackOnly?: boolean;
  /** An embedding model for /api/similarity (the explorer's similarity panel); none by default. */
  embedder?: SentenceEmbedder | null;
}

/** What GET /api/embedder says about the embedding model. */
export interface EmbedderInfo {
  source: string;
  dim: number;
  nLayers: number;
  pooling: PoolingMode;
  normalize: boolean;
  maxTokens: number;
}

export function embedderInfo(e: SentenceEmbedder): EmbedderInfo {
  return {
    source: e.source,
    dim: e.dim,
    nLayers: e.encoder.nLayers,
    pooling: e.pooling,
    normalize: e.normalize,
    maxTokens: e.maxTokens,
  };
}

/** A similarity explanation for the wire: the pair matrix to 6 significant digits. */
export function explainForWire(e: SentenceEmbedder, a: string, b: string, top = 10): SimilarityExplanation {
  const x = e.explain(a, b, { topPairs: top });
  return { ...x, pairs: x.pairs.map((r) => r.map((v) => Number(v.toPrecision(6)))) };
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Most characters accepted in a prompt before tokenizing (the token count is checked after). */
const MAX_PROMPT_CHARS = 200_000;
const MAX_WORDS = 200;

interface TokenizeBody {
  text: string;
}
interface TraceBody {
  prompt: string;
  options?: TraceOptions;
}
interface EmbeddingsBody {
  words: string[];
}
interface SimilarityBody {
  a: string;
  b: string;
  top?: number;
}
interface GenerateBody {
  prompt: string;
  steps: number;
  temperature?: number;
  seed?: number;
  forced?: number[];
  topK?: number;
  precision?: number;
  layers?: number[];
}

function schemas(model: LanguageModel) {
  const d = model.decoder;
  const ctx = d.contextLength;
  const prompt = { type: 'string', maxLength: MAX_PROMPT_CHARS };
  const layers = {
    type: 'array',
    items: { type: 'integer', minimum: 0, maximum: d.nLayers - 1 },
    maxItems: d.nLayers,
  };
  const forced = {
    type: 'array',
    items: { type: 'integer', minimum: 0, maximum: d.vocabSize - 1 },
    maxItems: ctx,
  };
  const sampling = {
    temperature: { type: 'number', minimum: 0, maximum: 100 },
    seed: { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 },
    forced,
    topK: { type: 'integer', minimum: 1, maximum: 100 },
    precision: { type: 'integer', minimum: 1, maximum: 9 },
    layers,
  };
  return {
    tokenize: {
      type: 'object',
      required: ['text'],
      additionalProperties: false,
      properties: { text: prompt },
    },
    trace: {
      type: 'object',
      required: ['prompt'],
      additionalProperties: false,
      properties: {
        prompt,
        options: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...sampling,
            vectors: { enum: ['full', 'summary'] },
            attention: { type: 'boolean' },
            lens: { enum: ['last', 'all'] },
            steps: { type: 'integer', minimum: 0, maximum: ctx },
          },
        },
      },
    },
    embeddings: {
      type: 'object',
      required: ['words'],
      additionalProperties: false,
      properties: {
        words: {
          type: 'array',
          minItems: 1,
          maxItems: MAX_WORDS,
          items: { type: 'string', minLength: 1, maxLength: 100, pattern: '\\S' },
        },
      },
    },
    similarity: {
      type: 'object',
      required: ['a', 'b'],
      additionalProperties: false,
      properties: { a: prompt, b: prompt, top: { type: 'integer', minimum: 0, maximum: 100 } },
    },
    generate: {
      type: 'object',
      required: ['prompt', 'steps'],
      additionalProperties: false,
      properties: { prompt, steps: { type: 'integer', minimum: 1, maximum: ctx }, ...sampling },
    },
  };
}

/** The headers that make a page cross-origin isolated (crossOriginIsolated: true in its scripts). */
export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
} as const;

/** One request-validation problem as ajv reports it (the fields the message is made from). */
interface ValidationProblem {
  keyword: string;
  instancePath?: string;
  message?: string;
  params: Record<string, unknown>;
}

/**
 * Fastify's validation message, naming what ajv knows but its default text leaves out: the property that
 * is not allowed ("body must NOT have additional properties" does not say which) and the allowed values.
 */
export function formatValidation(errors: ValidationProblem[], dataVar: string): Error {
  const text = errors.map((e) => {
    const where = dataVar + (e.instancePath ?? '');
    if (e.keyword === 'additionalProperties') {
      return `${where} must NOT have additional properties: "${String(e.params.additionalProperty)}" is not one it takes`;
    }
    if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) {
      return `${where} ${e.message}: ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    return `${where} ${e.message}`;
  });
  return new Error(text.join(', '));
}

export async function buildApp(model: LanguageModel, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 4 * 1024 * 1024,
    // Closing the server ends every connection, a stream being generated included.
    forceCloseConnections: true,
    // Strict bodies: no type coercion, no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
    schemaErrorFormatter: formatValidation,
  });
  const webRoot = options.webRoot === undefined ? defaultWebRoot() : options.webRoot;
  const s = schemas(model);
  const info = modelInfo(model);

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation) {
      return reply.code(400).send({ error: `invalid request: ${err.message}` });
    }
    if (isGlassError(err)) return reply.code(400).send({ error: err.message, code: err.code });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) app.log.error(err);
    return reply
      .code(status)
      .send({ error: status === 500 ? `internal error: ${err.message}` : err.message });
  });
  if (options.loopbackOnly) {
    app.addHook('onRequest', async (req, reply) => {
      const name = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
      if (!LOOPBACK_NAMES.has(name) && !name.startsWith('127.')) {
        return reply
          .code(403)
          .send({ error: `this server answers on loopback names only, not ${name || '(no Host)'}` });
      }
    });
  }
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `not found: ${req.method} ${req.url}` });
  });

  app.get('/api/model', async () => info);

  app.post<{ Body: TokenizeBody }>('/api/tokenize', { schema: { body: s.tokenize } }, async (req) => {
    return tokenizeAnswer(model, req.body.text);
  });

  app.post<{ Body: TraceBody }>('/api/trace', { schema: { body: s.trace } }, async (req) => {
    return model.trace(req.body.prompt, req.body.options ?? {});
  });

  app.post<{ Body: EmbeddingsBody }>('/api/embeddings', { schema: { body: s.embeddings } }, async (req) => {
    return embeddingsAnswer(model, req.body.words);
  });

  const embedder = options.embedder ?? null;
  app.get('/api/embedder', async () => ({ embedder: embedder ? embedderInfo(embedder) : null }));

  app.post<{ Body: SimilarityBody }>(
    '/api/similarity',
    { schema: { body: s.similarity } },
    async (req, reply) => {
      if (!embedder) {
        return reply.code(404).send({
          error: 'this server has no embedding model: start it with glasslm serve --embedder <folder|hub-id>',
        });
      }
      return explainForWire(embedder, req.body.a, req.body.b, req.body.top);
    },
  );

  app.post<{ Body: GenerateBody }>('/api/generate', { schema: { body: s.generate } }, async (req, reply) => {
    const { prompt, ...o } = req.body;
    // Checked here, before the first byte, so a bad request is still a 400.
    const steps = traceSteps(model, prompt, o);
    async function* lines(): AsyncGenerator<string> {
      try {
        for await (const step of steps) yield JSON.stringify(step satisfies TraceStep) + '\n';
      } catch (e) {
        yield JSON.stringify({ error: (e as Error).message }) + '\n';
      }
    }
    const stream = Readable.from(lines(), { objectMode: false });
    // A client that goes away stops the generation.
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) stream.destroy();
    });
    reply.type('application/x-ndjson; charset=utf-8');
    return reply.send(stream);
  });

  app.get('/*', async (req, reply) => {
    if (req.url.startsWith('/api/')) return reply.code(404).send({ error: `not found: GET ${req.url}` });
    if (!webRoot) return reply.type('text/html; charset=utf-8').send(NOT_BUILT_PAGE);
    const file = await staticFile(webRoot, req.url);
    if (!file) return reply.code(404).send({ error: `not found: GET ${req.url}` });
    // Cross-origin isolation: the page may then use SharedArrayBuffer, so a model loaded into the page
    // ("Load model…") runs its kernels on every core (Web Workers over one shared wasm memory). The page
    // loads nothing from other origins, so requiring CORP of them costs nothing.
    return reply.headers(ISOLATION_HEADERS).type(file.type).send(file.body);
  });

  return app;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Builds the app and listens on host:port (port 0 picks a free one); resolves with the URL. */
export async function startServer(
  model: LanguageModel,
  opts: AppOptions & { host?: string; port?: number } = {},
): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const app = await buildApp(model, { loopbackOnly: isLoopbackHost(host), ...opts });
  await app.listen({ host, port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shownHost}:${port}/`, app, close: () => app.close() };
}
