// `glasslm serve`: the explorer page (web/dist) and a JSON API over one loaded model, on loopback.
// Node-only. Everything is computed here from the model in memory: the server makes no outbound
// requests, and the page it serves loads nothing from elsewhere.
//
//   GET  /api/model                                  → TraceModelInfo
//   POST /api/tokenize   { text }                    → { tokens: TraceToken[], count }
//   POST /api/trace      { prompt, options? }        → Trace
//   POST /api/embeddings { words }                   → { dim, words: [{ word, tokens, vector }] }
//   POST /api/generate   { prompt, steps, temperature?, seed?, forced?, topK?, precision?, layers?,
//                          stopAtEos?, stop? }
//                                                    → NDJSON: one TraceStep per line, as produced
//   GET  /api/embedder                               → { embedder: EmbedderInfo | null }
//   POST /api/similarity { a, b, top? }              → SimilarityExplanation (src/embed/explain.ts;
//                                                      pairs to 6 significant digits); 404 without an
//                                                      embedding model (glasslm serve --embedder)
//   GET/POST /api/word-vectors, …/nearest, …/analogy → static word vectors for the word map
//                                                      (word-vectors.ts); 404 without them
//   POST /api/contextual { word, sentences }         → ContextualComparison (src/trace/contextual.ts):
//                                                      the word's vector in each sentence at every layer,
//                                                      pairwise cosines, and the word-vector row's
//   GET  /health                                     → { status, model, batch: { active, queued, … } }
//   /v1/…                                            → the OpenAI-compatible API (openai.ts), whose
//                                                      generations run in one continuous batch (batch.ts)
// Bad bodies → 400 { error }; a GlassError from the model → 400 { error: its message }.
// Heavy requests (generate, trace) share --parallel slots and a memory budget (admission.ts): past them
// 429 / 503 with Retry-After, and 413 for one that could never fit or a trace over its size limit, all
// before the first byte; their answers are streamed (stream.ts), and a client that stops reading is
// dropped. Who may call: guard.ts (loopback Host names only, or an API key off loopback).
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { EmbeddingModel } from '../embed/model.js';
import type { SimilarityExplanation } from '../embed/explain.js';
import type { EmbeddingPooling } from '../embed/pooling.js';
import type { LanguageModel } from '../models/model.js';
import { encodePrompt } from '../generate/generate.js';
import { stepsOf, type TraceOptions, type TraceStep } from '../trace/schema.js';
import { traceSize } from '../trace/size.js';
import { modelInfo, traceParts } from '../trace/trace.js';
import { CONTEXTUAL_TRACE_OPTIONS, contextualSimilarity } from '../trace/contextual.js';
import { GlassError, isGlassError } from '../util/errors.js';
import { Admission, Refusal, type AdmissionOptions } from './admission.js';
import { Batcher } from './batch.js';
import { ApiError, registerOpenAi } from './openai.js';
import { embeddingsAnswer, tokenizeAnswer } from './answers.js';
import { hasApiKey, isLoopbackAddress, isLoopbackHostHeader, publicSource } from './guard.js';
import { NOT_BUILT_PAGE, defaultWebRoot, staticFile } from './static.js';
import { nextTurn } from '../generate/steps.js';
import { traceSteps, type StepOptions } from './steps.js';
import { batched, jsonChunks, sendStream } from './stream.js';
import { registerWordVectors, type ServedVectors } from './word-vectors.js';

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
  embedder?: EmbeddingModel | null;
  /** Require `Authorization: Bearer <apiKey>` on /api/ (startServer demands one off loopback). */
  apiKey?: string | null;
  /** Slots, queue and memory budget of /api/generate and /api/trace (admission.ts). */
  limits?: AdmissionOptions & {
    /** Largest trace answered, estimated bytes of JSON (default 64 MiB); past it, 413. */
    maxTraceBytes?: number;
    /** How long a stream waits for a client that stopped reading before dropping it, ms (default 30 s). */
    stallTimeoutMs?: number;
  };
  /** Where internal errors (500s, failures mid-stream) are reported (default: the logger, or stderr). */
  onError?: (err: unknown, where: string) => void;
  /** Let pages from this origin call /v1 (CORS; off by default). */
  cors?: string | null;
  /** Static word vectors for the word map and /api/contextual's static row; none by default. */
  wordVectors?: ServedVectors | null;
}

/** The running parts of an app: its continuous batch, and how it shuts down. */
export interface AppState {
  batcher: Batcher;
  admission: Admission;
  /**
   * Refuses new /v1 generations (503), lets the running ones finish for up to `graceMs`, then ends the
   * rest (their streams get an error event and [DONE]).
   */
  drain(graceMs: number): Promise<void>;
}
const states = new WeakMap<FastifyInstance, AppState>();
/** The state of an app buildApp made. */
export function appState(app: FastifyInstance): AppState {
  return states.get(app)!;
}

/** What GET /api/embedder says about the embedding model. */
export interface EmbedderInfo {
  source: string;
  dim: number;
  nLayers: number;
  pooling: EmbeddingPooling;
  normalize: boolean;
  maxTokens: number;
}

export function embedderInfo(e: EmbeddingModel): EmbedderInfo {
  return {
    source: e.source,
    dim: e.dim,
    nLayers: e.nLayers,
    pooling: e.pooling,
    normalize: e.normalize,
    maxTokens: e.maxTokens,
  };
}

/** A similarity explanation for the wire: the pair matrix to 6 significant digits. */
export function explainForWire(e: EmbeddingModel, a: string, b: string, top = 10): SimilarityExplanation {
  const x = e.explain(a, b, { topPairs: top });
  return { ...x, pairs: x.pairs.map((r) => r.map((v) => Number(v.toPrecision(6)))) };
}

/** Most characters accepted in a prompt before tokenizing (the token count is checked after). */
const MAX_PROMPT_CHARS = 200_000;
const MAX_WORDS = 200;
/** Sentences POST /api/contextual compares, and the characters of each. */
const MAX_SENTENCES = 8;
const MAX_SENTENCE_CHARS = 2000;
const MiB = 2 ** 20;

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
type GenerateBody = StepOptions & { prompt: string };
interface ContextualBody {
  word: string;
  sentences: string[];
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
    stopAtEos: { type: 'boolean' },
    stop: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 100 }, maxItems: 8 },
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
            numBeams: { type: 'integer', minimum: 1, maximum: 8 },
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
    contextual: {
      type: 'object',
      required: ['word', 'sentences'],
      additionalProperties: false,
      properties: {
        word: { type: 'string', minLength: 1, maxLength: 100, pattern: '^\\s*\\S+\\s*$' },
        sentences: {
          type: 'array',
          minItems: 2,
          maxItems: MAX_SENTENCES,
          items: { type: 'string', minLength: 1, maxLength: MAX_SENTENCE_CHARS },
        },
      },
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
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        allowUnionTypes: true,
      },
    },
    schemaErrorFormatter: formatValidation,
  });
  const webRoot = options.webRoot === undefined ? defaultWebRoot() : options.webRoot;
  const s = schemas(model);
  const info = { ...modelInfo(model), source: publicSource(model.source) };
  const promptContext = { decoder: model.decoder, tokenizer: model.tokenizer, addBos: model.addBos };
  const limits = options.limits ?? {};
  const admission = new Admission(limits);
  const maxTraceBytes = limits.maxTraceBytes ?? 64 * MiB;
  const stallTimeoutMs = limits.stallTimeoutMs ?? 30_000;
  const reportError =
    options.onError ??
    ((err: unknown, where: string) => {
      if (options.logger) app.log.error({ err }, where);
      else process.stderr.write(`glasslm serve: ${where}: ${(err as Error)?.stack ?? String(err)}\n`);
    });
  /**
   * A failure before the first byte: the backend's memory running out under load is a 503 (try again
   * later, Retry-After), not the caller's fault; anything else goes to the error handler (400 / 500).
   */
  function unavailable(reply: FastifyReply, e: unknown) {
    if (!(isGlassError(e) && /out of memory/.test(e.message))) throw e;
    reportError(e, `503 on ${reply.request.method} ${reply.request.url}`);
    return reply
      .code(503)
      .header('retry-after', '5')
      .send({ error: `the server is out of memory now: ${e.message}` });
  }
  /** A slot and `bytes` for a heavy request, or null once the refusal (413/429/503) is sent. */
  async function admit(req: FastifyRequest, reply: FastifyReply, bytes: number, what: string) {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    try {
      return await admission.acquire(bytes, what, gone.signal);
    } catch (e) {
      if (!(e instanceof Refusal)) throw e;
      if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
      req.log.info(`refused ${req.method} ${req.url}: ${e.message}`);
      await reply.code(e.statusCode).send({ error: e.message });
      return null;
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation) {
      return reply.code(400).send({ error: `invalid request: ${err.message}` });
    }
    if (isGlassError(err)) return reply.code(400).send({ error: err.message, code: err.code });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) reportError(err, `500 on ${_req.method} ${_req.url}`);
    return reply
      .code(status)
      .send({ error: status === 500 ? `internal error: ${err.message}` : err.message });
  });
  if (options.loopbackOnly) {
    app.addHook('onRequest', async (req, reply) => {
      if (!isLoopbackHostHeader(req.headers.host)) {
        const name = (req.headers.host ?? '').slice(0, 100) || '(no Host)';
        const message = `this server answers on loopback names only (localhost, 127.x.y.z, [::1]), not ${JSON.stringify(name)}`;
        if (req.url.startsWith('/v1/')) {
          const e = new ApiError(403, message, 'invalid_request_error', null, 'forbidden_host');
          return reply.code(403).send(e.body());
        }
        return reply.code(403).send({ error: message });
      }
    });
  }
  const apiKey = options.apiKey;
  if (apiKey) {
    app.addHook('onRequest', async (req, reply) => {
      if (req.url.startsWith('/api/') && !hasApiKey(req.headers.authorization, apiKey)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'this server needs its API key: send Authorization: Bearer <key>' });
      }
    });
  }
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `not found: ${req.method} ${req.url}` });
  });

  app.get('/api/model', async () => info);

  // The OpenAI-compatible API: every generation is a sequence of one continuous batch.
  const batcher = new Batcher(model.decoder, model.tokenizer, (e) => reportError(e, 'batch'));
  let draining = false;
  const shutdown = new AbortController();
  states.set(app, {
    batcher,
    admission,
    async drain(graceMs) {
      draining = true;
      const timer = setTimeout(() => shutdown.abort(), graceMs);
      await batcher.idle();
      clearTimeout(timer);
      // the streams' last chunks (explorer requests too, within the grace period)
      const until = Date.now() + graceMs;
      while (admission.running > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    },
  });
  registerOpenAi(app, {
    model,
    modelId: publicSource(model.source),
    batcher,
    admission,
    embedder: options.embedder ?? null,
    embedderId: options.embedder ? publicSource(options.embedder.source) : null,
    apiKey: options.apiKey,
    maxTraceBytes,
    stallTimeoutMs,
    draining: () => draining,
    shutdown: shutdown.signal,
    reportError,
    cors: options.cors ?? null,
  });
  app.get('/health', async () => ({
    status: draining ? 'draining' : 'ok',
    model: publicSource(model.source),
    batch: {
      active: batcher.active,
      running: admission.running,
      queued: admission.queued,
      parallel: admission.parallel,
      ticks: batcher.stats.ticks,
      maxBatch: batcher.stats.maxBatch,
    },
  }));

  app.post<{ Body: TokenizeBody }>('/api/tokenize', { schema: { body: s.tokenize } }, async (req) => {
    return tokenizeAnswer(model, req.body.text);
  });

  app.post<{ Body: TraceBody }>('/api/trace', { schema: { body: s.trace } }, async (req, reply) => {
    const { prompt, options: o = {} } = req.body;
    const ids = encodePrompt(promptContext, prompt);
    const size = traceSize(model, ids.length, o);
    if (size.bytes > maxTraceBytes) {
      return reply.code(413).send({
        error:
          `this trace would be about ${(size.bytes / MiB).toFixed(0)} MiB of JSON (${size.values} numbers), over ` +
          `this server's limit of ${(maxTraceBytes / MiB).toFixed(0)} MiB (glasslm serve --max-trace-mb): ` +
          `record fewer layers (options.layers), vectors "summary", attention false, fewer steps or a shorter prompt`,
      });
    }
    const steps = stepsOf(o);
    // its KV cache (one per beam), and the trace twice over (the recorded numbers, then their JSON as sent)
    const bytes = model.decoder.kvCacheBytes(ids.length + steps) * (o.numBeams ?? 1) + 2 * size.bytes;
    const release = await admit(req, reply, bytes, 'this trace');
    if (!release) return reply;
    let trace;
    try {
      // the prompt pass, then one step at a time, letting other requests run in between
      const parts = traceParts(model, prompt, o);
      let r = parts.next();
      while (!r.done) {
        await nextTurn();
        if (reply.raw.destroyed) {
          release(); // the client went away
          return reply.hijack();
        }
        r = parts.next();
      }
      trace = r.value;
    } catch (e) {
      release();
      return unavailable(reply, e);
    }
    trace.model.source = info.source;
    const chunks = batched(jsonChunks(trace));
    await sendStream(reply, '', chunks, {
      type: 'application/json; charset=utf-8',
      stallTimeoutMs,
      onDone: release,
    });
    return reply;
  });

  app.post<{ Body: EmbeddingsBody }>('/api/embeddings', { schema: { body: s.embeddings } }, async (req) => {
    return embeddingsAnswer(model, req.body.words);
  });

  const embedder = options.embedder ?? null;
  app.get('/api/embedder', async () => ({
    embedder: embedder ? { ...embedderInfo(embedder), source: publicSource(embedder.source) } : null,
  }));

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

  const served = options.wordVectors ?? null;
  registerWordVectors(app, served);

  app.post<{ Body: ContextualBody }>(
    '/api/contextual',
    { schema: { body: s.contextual } },
    async (req, reply) => {
      const { word, sentences } = req.body;
      // one trace of each sentence (all layers' vectors), held until the answer is made
      let bytes = 0;
      for (const text of sentences) {
        const n = encodePrompt(promptContext, text).length;
        bytes += model.decoder.kvCacheBytes(n) + traceSize(model, n, CONTEXTUAL_TRACE_OPTIONS).bytes;
      }
      const release = await admit(req, reply, bytes, 'this comparison');
      if (!release) return reply;
      try {
        return contextualSimilarity(model, word, sentences, served?.vectors ?? null);
      } catch (e) {
        return unavailable(reply, e);
      } finally {
        release();
      }
    },
  );

  app.post<{ Body: GenerateBody }>('/api/generate', { schema: { body: s.generate } }, async (req, reply) => {
    const { prompt, ...o } = req.body;
    const ids = encodePrompt(promptContext, prompt);
    // Checked here, before the first byte, so a bad request is still a 400.
    const steps = traceSteps(model, ids, o);
    const n = stepsOf(o);
    const release = await admit(req, reply, model.decoder.kvCacheBytes(ids.length + n), 'this generation');
    if (!release) return reply;
    // The prompt pass and the first token before the status, so that a failure there is still a 4xx/5xx.
    let first: IteratorResult<TraceStep>;
    try {
      first = await steps.next();
    } catch (e) {
      release();
      return unavailable(reply, e);
    }
    const line = (step: TraceStep) => JSON.stringify(step) + '\n';
    async function* lines(): AsyncGenerator<string> {
      for await (const step of steps) yield line(step);
    }
    // A client that goes away stops the generation; one that stops reading is dropped (stream.ts).
    await sendStream(reply, first.done ? '' : line(first.value), lines(), {
      type: 'application/x-ndjson; charset=utf-8',
      stallTimeoutMs,
      onDone: release,
      onError: (e) => {
        reportError(e, `failure in the stream of ${req.method} ${req.url}`);
        return JSON.stringify({ error: (e as Error).message }) + '\n';
      },
    });
    return reply;
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
  /** Stops taking generations, lets the running ones finish for up to graceMs (then ends them), closes. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Builds the app and listens on host:port (port 0 picks a free one); resolves with the URL. */
export async function startServer(
  model: LanguageModel,
  opts: AppOptions & { host?: string; port?: number } = {},
): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const loopback = isLoopbackAddress(host);
  if (!loopback && !opts.apiKey) {
    throw new GlassError(
      'BAD_INPUT',
      `refusing to listen on ${host} without an API key: anyone who can reach it could use the model; ` +
        `pass --api-key <key> or set GLASSLM_API_KEY (callers then send Authorization: Bearer <key>)`,
    );
  }
  const app = await buildApp(model, { loopbackOnly: loopback, ...opts });
  await app.listen({ host, port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    app,
    close: () => app.close(),
    shutdown: async (graceMs = 10_000) => {
      await appState(app).drain(graceMs);
      await app.close();
    },
  };
}
