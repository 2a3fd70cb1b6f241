// The OpenAI-compatible API of `glasslm serve`, beside the explorer's /api/ on the same server:
//
//   GET  /v1/models                 → { object: 'list', data: [{ id, object: 'model', created, owned_by }] }
//   POST /v1/completions            → text_completion (or SSE chunks with stream: true, then data: [DONE])
//   POST /v1/chat/completions       → chat.completion (or chat.completion.chunk SSE); the messages go
//                                     through the model's chat template, or — a model without one — the
//                                     plain "Role: content" template (src/generate/chat.ts), said in the
//                                     x-glasslm-chat-template response header ('model' or 'plain')
//   POST /v1/embeddings             → { object: 'list', data: [{ embedding, index }] } (with --embedder)
//
// Every choice is one sequence of the continuous batch (batch.ts): its tokens come from the same step
// loop, sampler and stop rules as every other caller. An encoder-decoder (Marian, e.g. models/dates-iso)
// serves /v1/completions: the prompt is the text to translate, encoded once per request; its choices run
// their own decoder forwards in the batch's ticks, one after the other (no chat, no glasslm.trace there). Fields OpenAI has and this server does not (echo,
// logit_bias, tools…) are refused with a 400 naming the field, never ignored; so are values out of range.
// A prompt longer than the context is refused with its token count; max_tokens past the room left is cut
// to it (finish_reason 'length'); max_tokens over the whole context is refused. Errors are OpenAI's shape:
// { error: { message, type, param, code } }.
// Our extension: `glasslm: { trace: { layers?, topK?, vectors?, attention?, lens?, precision? } }` adds
// the trace of the prompt and of each choice's tokens (the /api/trace schema, src/trace/schema.ts) as
// `glasslm.traces` — in the response, or in one last chunk before [DONE].
import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmbeddingModel } from '../embed/model.js';
import { ChatFormatter, PLAIN_CHAT_STOPS, PLAIN_CHAT_TEMPLATE, type ChatMessage } from '../generate/chat.js';
import { encodePrompt, stepInput } from '../generate/generate.js';
import { Sampler } from '../generate/sampler.js';
import { nextTurn, type GenerationStep, type StepsEnd } from '../generate/steps.js';
import type { LanguageModel } from '../models/model.js';
import { pieceText } from '../trace/recorder.js';
import type { Trace, TraceOptions } from '../trace/schema.js';
import { traceSize } from '../trace/size.js';
import { traceParts } from '../trace/trace.js';
import { isGlassError } from '../util/errors.js';
import { Refusal, type Admission } from './admission.js';
import type { Batcher } from './batch.js';
import { hasApiKey } from './guard.js';
import { sendStream } from './stream.js';

export interface OpenAiOptions {
  model: LanguageModel;
  /** The id /v1/models lists and requests must name. */
  modelId: string;
  batcher: Batcher;
  admission: Admission;
  embedder: EmbeddingModel | null;
  embedderId: string | null;
  apiKey: string | null | undefined;
  maxTraceBytes: number;
  stallTimeoutMs: number;
  /** Set while the server shuts down: new requests are refused (503). */
  draining: () => boolean;
  /** Aborted when the server shuts down past its grace period: running sequences end. */
  shutdown: AbortSignal;
  reportError: (e: unknown, where: string) => void;
  /** The one origin whose pages may call /v1 (CORS), or null: no CORS headers. */
  cors: string | null;
}

const MAX_PROMPT_CHARS = 200_000;
const MAX_N = 8;
const MiB = 2 ** 20;

/** An error in OpenAI's shape, with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

interface TextPart {
  type: 'text';
  text: string;
}
interface WireMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string | TextPart[];
  name?: string;
}
interface Common {
  model: string;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  user?: string;
  glasslm?: { trace?: TraceOptions };
}
interface CompletionBody extends Common {
  prompt: string | [string] | number[];
  logprobs?: number | null;
}
interface ChatBody extends Common {
  messages: WireMessage[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}
interface EmbeddingBody {
  model: string;
  input: string | string[];
  encoding_format?: 'float';
  user?: string;
}

function schemas(model: LanguageModel) {
  const d = model.decoder;
  const ctx = d.contextLength;
  // null allowed as "not given" (type arrays: ajv then reports the real problem, not an anyOf)
  const nullable = (s: Record<string, unknown>) => ({ ...s, type: [s.type, 'null'] });
  const text = { type: 'string', maxLength: MAX_PROMPT_CHARS };
  const stopString = { type: 'string', minLength: 1, maxLength: 200 };
  const common = {
    model: { type: 'string', maxLength: 300 },
    max_tokens: nullable({ type: 'integer', minimum: 1, maximum: ctx }),
    temperature: nullable({ type: 'number', minimum: 0, maximum: 2 }),
    top_p: nullable({ type: 'number', minimum: 0, maximum: 1 }),
    seed: nullable({ type: 'integer', minimum: -(2 ** 53), maximum: 2 ** 53 }),
    stop: { type: ['string', 'array', 'null'], minLength: 1, maxLength: 200, items: stopString, maxItems: 4 },
    n: nullable({ type: 'integer', minimum: 1, maximum: MAX_N }),
    presence_penalty: nullable({ type: 'number', minimum: -2, maximum: 2 }),
    frequency_penalty: nullable({ type: 'number', minimum: -2, maximum: 2 }),
    stream: nullable({ type: 'boolean' }),
    stream_options: nullable({
      type: 'object',
      additionalProperties: false,
      properties: { include_usage: { type: 'boolean' } },
    }),
    user: { type: 'string', maxLength: 300 },
    glasslm: {
      type: 'object',
      additionalProperties: false,
      properties: {
        trace: {
          type: 'object',
          additionalProperties: false,
          properties: {
            layers: {
              type: 'array',
              items: { type: 'integer', minimum: 0, maximum: d.nLayers - 1 },
              maxItems: d.nLayers,
            },
            topK: { type: 'integer', minimum: 1, maximum: 100 },
            vectors: { enum: ['full', 'summary'] },
            attention: { type: 'boolean' },
            lens: { enum: ['last', 'all'] },
            precision: { type: 'integer', minimum: 1, maximum: 9 },
          },
        },
      },
    },
  };
  const content = {
    anyOf: [
      text,
      {
        type: 'array',
        maxItems: 64,
        items: {
          type: 'object',
          required: ['type', 'text'],
          additionalProperties: false,
          properties: { type: { enum: ['text'] }, text },
        },
      },
    ],
  };
  return {
    completions: {
      type: 'object',
      required: ['model', 'prompt'],
      additionalProperties: false,
      properties: {
        ...common,
        prompt: {
          anyOf: [
            text,
            { type: 'array', items: text, minItems: 1, maxItems: 1 },
            {
              type: 'array',
              items: { type: 'integer', minimum: 0, maximum: d.vocabSize - 1 },
              minItems: 1,
              maxItems: ctx,
            },
          ],
        },
        logprobs: nullable({ type: 'integer', minimum: 0, maximum: 5 }),
      },
    },
    chat: {
      type: 'object',
      required: ['model', 'messages'],
      additionalProperties: false,
      properties: {
        ...common,
        messages: {
          type: 'array',
          minItems: 1,
          maxItems: 1000,
          items: {
            type: 'object',
            required: ['role', 'content'],
            additionalProperties: false,
            properties: {
              role: { enum: ['system', 'developer', 'user', 'assistant'] },
              content,
              name: { type: 'string', maxLength: 100 },
            },
          },
        },
        max_completion_tokens: nullable({ type: 'integer', minimum: 1, maximum: ctx }),
        logprobs: nullable({ type: 'boolean' }),
        top_logprobs: nullable({ type: 'integer', minimum: 0, maximum: 20 }),
      },
    },
    embeddings: {
      type: 'object',
      required: ['model', 'input'],
      additionalProperties: false,
      properties: {
        model: { type: 'string', maxLength: 300 },
        input: { anyOf: [text, { type: 'array', items: text, minItems: 1, maxItems: 256 }] },
        encoding_format: { enum: ['float'] },
        user: { type: 'string', maxLength: 300 },
      },
    },
  };
}

/** The field a validation error is about (`param`), from ajv's first problem. */
function validationParam(err: FastifyError): string | null {
  const v = err.validation?.[0];
  if (!v) return null;
  const extra = (v.params as Record<string, unknown>)?.additionalProperty;
  const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (typeof extra === 'string') return path ? `${path}.${extra}` : extra;
  return path || null;
}

/** Sampling parameters common to both generation endpoints, checked. */
interface Params {
  maxTokens: number | undefined;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  n: number;
  presence: number;
  frequency: number;
  stream: boolean;
  includeUsage: boolean;
  /** Top alternatives per token: -1 = no logprobs at all. */
  logprobs: number;
  trace: TraceOptions | undefined;
}

function params(b: Common, maxTokens: number | null | undefined, logprobs: number): Params {
  if (b.stream_options && !b.stream)
    throw new ApiError(400, 'stream_options is only allowed with stream: true', undefined, 'stream_options');
  return {
    maxTokens: maxTokens ?? undefined,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? 1,
    seed: b.seed ?? undefined,
    stop: b.stop == null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop,
    n: b.n ?? 1,
    presence: b.presence_penalty ?? 0,
    frequency: b.frequency_penalty ?? 0,
    stream: b.stream ?? false,
    includeUsage: b.stream_options?.include_usage ?? false,
    logprobs,
    trace: b.glasslm?.trace,
  };
}

/** One generated token, with its log-probability and alternatives when asked for. */
interface TokenOut {
  id: number;
  text: string;
  logprob: number;
  top: { id: number; text: string; logprob: number }[];
}

/** log softmax(row)[id], and the k most likely ids with theirs. */
function logprobsOf(row: Float32Array, id: number, k: number): { logprob: number; top: [number, number][] } {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  const top: [number, number][] = [];
  if (k > 0) {
    // partial selection: the k best so far, best first (k is small)
    for (let i = 0; i < row.length; i++) {
      if (top.length === k && row[i] <= top[k - 1][1]) continue;
      let j = top.length < k ? top.length : k - 1;
      top[j] = [i, row[i]];
      while (j > 0 && top[j][1] > top[j - 1][1]) {
        [top[j], top[j - 1]] = [top[j - 1], top[j]];
        j--;
      }
    }
  }
  return { logprob: row[id] - lse, top: top.map(([t, l]) => [t, l - lse]) };
}

/** What a choice has done so far. */
interface Choice {
  index: number;
  text: string;
  tokens: TokenOut[];
  ids: number[];
  finish: 'stop' | 'length' | null;
}

const finishReason = (s: StepsEnd['stop'] | 'error'): 'stop' | 'length' | null =>
  s === 'eos' || s === 'stop' ? 'stop' : s === 'max-tokens' || s === 'context' ? 'length' : null;

/** A queue of strings read as an async iterator (the SSE chunks, pushed by the batch's callbacks). */
class Chunks implements AsyncIterator<string> {
  private readonly items: string[] = [];
  private wake: (() => void) | null = null;
  private closed = false;
  push(s: string): void {
    this.items.push(s);
    this.wake?.();
  }
  close(): void {
    this.closed = true;
    this.wake?.();
  }
  async next(): Promise<IteratorResult<string>> {
    while (this.items.length === 0 && !this.closed) {
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
    if (this.items.length > 0) {
      // several chunks ready: one write
      const s = this.items.join('');
      this.items.length = 0;
      return { done: false, value: s };
    }
    return { done: true, value: undefined };
  }
}

const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

export function registerOpenAi(app: FastifyInstance, o: OpenAiOptions): void {
  const { model, batcher, admission } = o;
  const d = model.decoder;
  const tok = model.tokenizer;
  const s = schemas(model);
  const created = Math.floor(Date.now() / 1000);
  const special = tok.specialTokens;
  const plainChat = model.chatTemplate === undefined;
  const formatter = new ChatFormatter(model.chatTemplate ?? PLAIN_CHAT_TEMPLATE, {
    bosToken: special.bos !== undefined ? tok.idToToken(special.bos) : undefined,
    eosToken: special.eos !== undefined ? tok.idToToken(special.eos) : undefined,
  });
  const promptContext = { decoder: d, tokenizer: tok, addBos: model.addBos };

  app.register(
    async (v1) => {
      v1.setErrorHandler((err: FastifyError, req, reply) => {
        if (err instanceof ApiError) return reply.code(err.statusCode).send(err.body());
        if (err.validation) {
          const e = new ApiError(400, `invalid request: ${err.message}`, undefined, validationParam(err));
          return reply.code(400).send(e.body());
        }
        if (isGlassError(err)) {
          return reply.code(400).send(new ApiError(400, err.message, undefined, null, err.code).body());
        }
        const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
        if (status === 500) o.reportError(err, `500 on ${req.method} ${req.url}`);
        const type = status === 500 ? 'server_error' : 'invalid_request_error';
        const message = status === 500 ? `internal error: ${err.message}` : err.message;
        return reply.code(status).send(new ApiError(status, message, type, null, err.code ?? null).body());
      });
      v1.setNotFoundHandler((req, reply) => {
        const e = new ApiError(404, `not found: ${req.method} ${req.url}`, undefined, null, 'not_found');
        reply.code(404).send(e.body());
      });
      v1.addHook('onRequest', async (req, reply) => {
        if (o.cors && req.headers.origin === o.cors) {
          reply.header('access-control-allow-origin', o.cors).header('vary', 'Origin');
          if (req.method === 'OPTIONS') {
            return reply
              .code(204)
              .header('access-control-allow-methods', 'GET, POST, OPTIONS')
              .header('access-control-allow-headers', 'authorization, content-type')
              .header('access-control-max-age', '600')
              .send();
          }
        }
        if (o.apiKey && !hasApiKey(req.headers.authorization, o.apiKey)) {
          const e = new ApiError(
            401,
            'this server needs its API key: send Authorization: Bearer <key>',
            'invalid_request_error',
            null,
            'invalid_api_key',
          );
          return reply.code(401).header('www-authenticate', 'Bearer').send(e.body());
        }
        if (o.draining() && req.method === 'POST') {
          const e = new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down');
          return reply.code(503).header('retry-after', '5').send(e.body());
        }
      });

      // CORS preflights: answered by the hook above for --cors's origin, else 404
      v1.options('/*', async (req) => {
        throw new ApiError(404, `not found: OPTIONS ${req.url}`, undefined, null, 'not_found');
      });

      v1.get('/models', async () => ({
        object: 'list',
        data: [o.modelId, ...(o.embedderId ? [o.embedderId] : [])].map((id) => ({
          id,
          object: 'model',
          created,
          owned_by: 'glasslm',
        })),
      }));

      v1.post<{ Body: CompletionBody }>(
        '/completions',
        { schema: { body: s.completions } },
        async (req, reply) => {
          const b = req.body;
          checkModel(b.model);
          const p = params(b, b.max_tokens ?? 16, b.logprobs ?? -1);
          const prompt = Array.isArray(b.prompt) && typeof b.prompt[0] === 'string' ? b.prompt[0] : b.prompt;
          if (p.trace && typeof prompt !== 'string')
            throw new ApiError(400, 'glasslm.trace needs a text prompt', undefined, 'glasslm.trace');
          const ids = encodePrompt(promptContext, prompt as string | number[]);
          return serve(
            req,
            reply,
            'completion',
            ids,
            typeof prompt === 'string' ? prompt : null,
            p,
            'prompt',
          );
        },
      );

      v1.post<{ Body: ChatBody }>('/chat/completions', { schema: { body: s.chat } }, async (req, reply) => {
        const b = req.body;
        checkModel(b.model);
        if (b.top_logprobs != null && !b.logprobs)
          throw new ApiError(400, 'top_logprobs needs logprobs: true', undefined, 'top_logprobs');
        if (b.max_tokens != null && b.max_completion_tokens != null)
          throw new ApiError(
            400,
            'give max_tokens or max_completion_tokens, not both',
            undefined,
            'max_completion_tokens',
          );
        const p = params(b, b.max_completion_tokens ?? b.max_tokens, b.logprobs ? (b.top_logprobs ?? 0) : -1);
        const messages: ChatMessage[] = b.messages.map((m) => ({
          role: m.role === 'developer' ? 'system' : m.role,
          content: typeof m.content === 'string' ? m.content : m.content.map((c) => c.text).join(''),
        }));
        const prompt = formatter.format(messages);
        if (plainChat) p.stop = [...p.stop, ...PLAIN_CHAT_STOPS];
        reply.header('x-glasslm-chat-template', plainChat ? 'plain' : 'model');
        const ids = encodePrompt(promptContext, prompt);
        return serve(req, reply, 'chat', ids, prompt, p, 'messages');
      });

      v1.post<{ Body: EmbeddingBody }>('/embeddings', { schema: { body: s.embeddings } }, async (req) => {
        const e = o.embedder;
        if (!e || !o.embedderId)
          throw modelNotFound(
            'this server has no embedding model: start it with glasslm serve --embedder <folder|hub-id>',
          );
        if (req.body.model !== o.embedderId)
          throw modelNotFound(
            `the embedding model "${req.body.model}" is not served here; this server has "${o.embedderId}"`,
          );
        const inputs = typeof req.body.input === 'string' ? [req.body.input] : req.body.input;
        let tokens = 0;
        const too: number[] = [];
        for (const [i, t] of inputs.entries()) {
          const n = e.countTokens(t) + e.addedTokens;
          tokens += Math.min(n, e.maxTokens);
          if (n > e.maxTokens) too.push(i);
        }
        if (too.length > 0)
          throw new ApiError(
            400,
            `input ${too[0]} is longer than the embedding model's ${e.maxTokens} tokens (it is not cut silently); shorten it`,
            undefined,
            'input',
            'context_length_exceeded',
          );
        const vectors = e.embed(inputs);
        return {
          object: 'list',
          model: o.embedderId,
          data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: Array.from(v) })),
          usage: { prompt_tokens: tokens, total_tokens: tokens },
        };
      });
    },
    { prefix: '/v1' },
  );

  function checkModel(id: string): void {
    if (id !== o.modelId)
      throw modelNotFound(
        `the model "${id}" does not exist here; this server has "${o.modelId}" (GET /v1/models)`,
      );
  }

  /** Generates the choices of one request through the batch; answers JSON or SSE. */
  async function serve(
    req: FastifyRequest,
    reply: FastifyReply,
    kind: 'completion' | 'chat',
    ids: number[],
    promptText: string | null,
    p: Params,
    promptParam: string,
  ): Promise<FastifyReply> {
    // An encoder-decoder (Marian) translates: the prompt is the source its encoder reads (once, below);
    // each choice's decoder, bound to it, starts from the decoder's start token (decoderIds).
    const s2s = model.seq2seq;
    if (s2s && (kind === 'chat' || p.trace))
      throw new ApiError(
        400,
        `${o.modelId} is an encoder-decoder (translation) model: it takes /v1/completions with the text to ` +
          `translate as the prompt (no chat${p.trace ? ', no glasslm.trace here: /api/trace records it' : ''})`,
        undefined,
        kind === 'chat' ? 'model' : 'glasslm.trace',
        'unsupported_model',
      );
    const P = ids.length;
    if (s2s && P > s2s.encoder.contextLength)
      throw new ApiError(
        400,
        `the prompt is ${P} tokens, but the encoder's limit is ${s2s.encoder.contextLength}; shorten it`,
        undefined,
        promptParam,
        'context_length_exceeded',
      );
    const decoderIds = s2s ? [s2s.decoderStartTokenId] : ids;
    const D = decoderIds.length;
    const ctx = d.contextLength;
    if (D >= ctx)
      throw new ApiError(
        400,
        `the prompt is ${P} tokens, but the model's context length is ${ctx} (it needs room for at least ` +
          `one new token); shorten it`,
        undefined,
        promptParam,
        'context_length_exceeded',
      );
    // max_tokens past the room left is cut to it (the reply then ends with finish_reason 'length')
    const maxTokens = Math.min(p.maxTokens ?? ctx - D, ctx - D);
    let traceBytes = 0;
    if (p.trace) {
      if (p.n > 1) throw new ApiError(400, 'glasslm.trace takes n: 1', undefined, 'n');
      traceBytes = traceSize(model, P, { ...p.trace, steps: maxTokens }).bytes;
      if (traceBytes > o.maxTraceBytes)
        throw new ApiError(
          413,
          `this trace would be about ${(traceBytes / MiB).toFixed(0)} MiB of JSON, over this server's limit of ` +
            `${(o.maxTraceBytes / MiB).toFixed(0)} MiB (glasslm serve --max-trace-mb): record fewer layers, ` +
            `vectors "summary", attention false or fewer tokens`,
          undefined,
          'glasslm.trace',
        );
    }
    const samplers = Array.from(
      { length: p.n },
      (_, i) =>
        new Sampler({
          temperature: p.temperature,
          greedy: p.temperature === 0 || p.topP === 0,
          topP: p.topP > 0 ? p.topP : 1,
          seed: p.seed === undefined ? undefined : (((p.seed + i) % 2 ** 32) + 2 ** 32) % 2 ** 32,
          presencePenalty: p.presence,
          frequencyPenalty: p.frequency,
        }),
    );
    // a slot for the request (its n sequences run together) and the memory of its caches
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    let release: () => void;
    try {
      release = await admission.acquire(
        p.n * d.kvCacheBytes(D + maxTokens) + 2 * traceBytes,
        'this request',
        gone.signal,
      );
    } catch (e) {
      reply.raw.off('close', onClose);
      if (!(e instanceof Refusal)) throw e;
      if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
      const type = e.statusCode === 413 ? 'invalid_request_error' : 'server_error';
      const code = e.statusCode === 429 ? 'rate_limit_exceeded' : e.statusCode === 413 ? 'too_large' : 'busy';
      return reply.code(e.statusCode).send(new ApiError(e.statusCode, e.message, type, null, code).body());
    }
    // the client going away, or the server shutting down past its grace period, ends the sequences
    const stop = new AbortController();
    const onGone = () => stop.abort();
    reply.raw.once('close', onGone);
    o.shutdown.addEventListener('abort', onGone, { once: true });
    const cleanup = () => {
      reply.raw.off('close', onClose);
      reply.raw.off('close', onGone);
      o.shutdown.removeEventListener('abort', onGone);
      release();
    };

    const id = (kind === 'chat' ? 'chatcmpl-' : 'cmpl-') + randomBytes(12).toString('hex');
    const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
    const base = () => ({
      id,
      object: p.stream ? (kind === 'chat' ? 'chat.completion.chunk' : 'text_completion') : object,
      created: Math.floor(Date.now() / 1000),
      model: o.modelId,
    });
    const choices: Choice[] = samplers.map((_, index) => ({
      index,
      text: '',
      tokens: [],
      ids: [],
      finish: null,
    }));
    const chunks = p.stream ? new Chunks() : null;
    let failure: unknown = null;
    let left = p.n;
    let allDone!: () => void;
    const done = new Promise<void>((r) => (allDone = r));

    const tokenOut = (step: GenerationStep, row: Float32Array): TokenOut => {
      const lp = logprobsOf(row, step.id, p.logprobs);
      return {
        id: step.id,
        text: pieceText(tok, step.id),
        logprob: lp.logprob,
        top: lp.top.map(([t, l]) => ({ id: t, text: pieceText(tok, t), logprob: l })),
      };
    };
    const chunkOf = (
      c: Choice,
      text: string,
      t: TokenOut | null,
      finish: Choice['finish'],
      first = false,
    ) => {
      if (kind === 'chat') {
        const delta = first ? { role: 'assistant', content: '' } : finish ? {} : { content: text };
        return sse({
          ...base(),
          choices: [
            {
              index: c.index,
              delta,
              logprobs: t ? { content: [chatLogprob(t)] } : null,
              finish_reason: finish,
            },
          ],
        });
      }
      return sse({
        ...base(),
        choices: [
          { index: c.index, text, logprobs: t ? completionLogprobs([t], 0) : null, finish_reason: finish },
        ],
      });
    };

    try {
      // an encoder-decoder's source, encoded once for all the choices (they step apart from the batch)
      const own = s2s ? stepInput(model, ids).net : undefined;
      samplers.forEach((sampler, i) => {
        const c = choices[i];
        if (chunks && kind === 'chat') chunks.push(chunkOf(c, '', null, null, true));
        batcher.submit({
          ids: decoderIds,
          model: own,
          loop: { sampler, maxTokens, stop: p.stop, text: true },
          signal: stop.signal,
          onStep: (step, row) => {
            if (step.stop === 'eos') return; // the end-of-text token is not part of the text
            const t = p.logprobs >= 0 ? tokenOut(step, row) : null;
            if (t) c.tokens.push(t);
            c.ids.push(step.id);
            c.text += step.text;
            if (chunks && (step.text || t)) chunks.push(chunkOf(c, step.text, t, null));
          },
          onEnd: (end) => {
            if (end.stop === 'error') failure ??= end.error;
            else if (end.rest) {
              c.text += end.rest;
              if (chunks) chunks.push(chunkOf(c, end.rest, null, null));
            }
            c.finish = end.stop === 'error' ? null : finishReason(end.stop);
            if (chunks && c.finish) chunks.push(chunkOf(c, '', null, c.finish));
            if (--left === 0) allDone();
          },
        });
      });
    } catch (e) {
      // a request the step loop refuses (checked before anything runs)
      stop.abort();
      cleanup();
      throw e;
    }
    const completionTokens = () => choices.reduce((n, c) => n + c.ids.length, 0);
    const usage = () => ({
      prompt_tokens: P,
      completion_tokens: completionTokens(),
      total_tokens: P + completionTokens(),
    });
    const traces = async (): Promise<Trace[] | undefined> => {
      if (!p.trace || promptText === null) return undefined;
      const out: Trace[] = [];
      for (const c of choices) {
        // the same tokens again, recorded: the prompt pass and each chosen token as a forced step
        const parts = traceParts(model, promptText, { ...p.trace, forced: c.ids, steps: c.ids.length });
        let r = parts.next();
        while (!r.done) {
          await nextTurn();
          if (stop.signal.aborted) return undefined;
          r = parts.next();
        }
        r.value.model.source = o.modelId;
        out.push(r.value);
      }
      return out;
    };

    if (!chunks) {
      await done;
      try {
        if (failure) throw failure;
        if (stop.signal.aborted) return reply.hijack(); // the client went away
        const t = await traces();
        return reply.send({
          ...base(),
          choices: choices.map((c) =>
            kind === 'chat'
              ? {
                  index: c.index,
                  message: { role: 'assistant', content: c.text },
                  logprobs: p.logprobs >= 0 ? { content: c.tokens.map(chatLogprob) } : null,
                  finish_reason: c.finish,
                }
              : {
                  index: c.index,
                  text: c.text,
                  logprobs: p.logprobs >= 0 ? completionLogprobs(c.tokens, 0) : null,
                  finish_reason: c.finish,
                },
          ),
          usage: usage(),
          ...(t ? { glasslm: { traces: t } } : {}),
        });
      } finally {
        cleanup();
      }
    }

    const failed = (e: unknown) => {
      o.reportError(e, `failure in the stream of ${req.method} ${req.url}`);
      chunks.push(sse(new ApiError(500, `internal error: ${(e as Error)?.message}`, 'server_error').body()));
    };
    void done.then(async () => {
      try {
        if (failure) failed(failure);
        else if (stop.signal.aborted && !reply.raw.destroyed) {
          chunks.push(
            sse(
              new ApiError(503, 'the server is shutting down', 'server_error', null, 'shutting_down').body(),
            ),
          );
        } else {
          if (p.includeUsage) chunks.push(sse({ ...base(), choices: [], usage: usage() }));
          const t = await traces().catch((e: unknown) => void failed(e));
          if (t) chunks.push(sse({ ...base(), choices: [], glasslm: { traces: t } }));
        }
        chunks.push('data: [DONE]\n\n');
      } finally {
        chunks.close();
      }
    });
    await sendStream(reply, '', chunks, {
      type: 'text/event-stream; charset=utf-8',
      stallTimeoutMs: o.stallTimeoutMs,
      onDone: () => {
        stop.abort(); // a dropped or gone client ends its sequences at the next tick
        void done.then(cleanup);
      },
    });
    return reply;
  }
}

const modelNotFound = (message: string) =>
  new ApiError(404, message, 'invalid_request_error', 'model', 'model_not_found');

function chatLogprob(t: TokenOut) {
  const bytes = (s: string) => Array.from(Buffer.from(s, 'utf8'));
  return {
    token: t.text,
    logprob: t.logprob,
    bytes: bytes(t.text),
    top_logprobs: t.top.map((a) => ({ token: a.text, logprob: a.logprob, bytes: bytes(a.text) })),
  };
}

/** The legacy completions' logprobs object for `tokens`, whose text starts at `offset`. */
function completionLogprobs(tokens: TokenOut[], offset: number) {
  const text_offset: number[] = [];
  let at = offset;
  for (const t of tokens) {
    text_offset.push(at);
    at += t.text.length;
  }
  return {
    tokens: tokens.map((t) => t.text),
    token_logprobs: tokens.map((t) => t.logprob),
    top_logprobs: tokens.map((t) => Object.fromEntries(t.top.map((a) => [a.text, a.logprob]))),
    text_offset,
  };
}
