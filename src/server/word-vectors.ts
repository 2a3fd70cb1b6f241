// The explorer's word map: static word vectors (word2vec, GloVe) over HTTP, for the vectors `glasslm
// serve` loaded (--vectors, else the bundled KJV ones). The 2D PCA is the page's (web/src/pca.ts): the
// words' vectors are sent whole.
//
//   GET  /api/word-vectors                     → { vectors: { source, words, dim } | null }
//   POST /api/word-vectors { words }            → { dim, words: [{ word, vector }] }
//   POST /api/word-vectors/nearest { word, k? } → { word, nearest: [{ word, score }] }
//   POST /api/word-vectors/analogy { a, b, c, k?, method? }
//                                               → { a, b, c, method, answers: [{ word, score }] }
//                                                 (a : b :: c : answers[0]; src/word2vec/query.ts)
// A word not in the vocabulary → 404 naming every such word; a server without vectors → 404 saying how to
// start one with them; a bad body → 400.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { roundTo } from '../trace/recorder.js';
import { analogy, nearest, rowOf, vectorOf, type AnalogyMethod } from '../word2vec/query.js';
import type { WordVectors } from '../word2vec/vectors.js';
import { publicSource } from './guard.js';

export interface ServedVectors {
  vectors: WordVectors;
  /** Where they were loaded from (shown by its file name only). */
  source: string;
}

const MAX_WORDS = 200;
const word = { type: 'string', minLength: 1, maxLength: 100, pattern: '^\\S+$' };
const k = { type: 'integer', minimum: 1, maximum: 100 };

const schemas = {
  words: {
    type: 'object',
    required: ['words'],
    additionalProperties: false,
    properties: { words: { type: 'array', minItems: 1, maxItems: MAX_WORDS, items: word } },
  },
  nearest: {
    type: 'object',
    required: ['word'],
    additionalProperties: false,
    properties: { word, k },
  },
  analogy: {
    type: 'object',
    required: ['a', 'b', 'c'],
    additionalProperties: false,
    properties: { a: word, b: word, c: word, k, method: { enum: ['add', 'mul'] } },
  },
};

const rounded = (xs: Array<{ word: string; score: number }>) =>
  xs.map((x) => ({ word: x.word, score: roundTo(x.score, 6) }));

export function registerWordVectors(app: FastifyInstance, served: ServedVectors | null): void {
  app.get('/api/word-vectors', async () => ({
    vectors: served
      ? {
          source: publicSource(served.source),
          words: served.vectors.words.length,
          dim: served.vectors.dim,
        }
      : null,
  }));

  /** The vectors, or null once a 404 (none loaded, or words not in the vocabulary) is sent. */
  function need(reply: FastifyReply, words: string[]): WordVectors | null {
    if (!served) {
      void reply.code(404).send({
        error: 'this server has no word vectors: start it with glasslm serve --vectors <file>',
      });
      return null;
    }
    const unknown = [...new Set(words)].filter((w) => {
      try {
        rowOf(served.vectors, w);
        return false;
      } catch {
        return true;
      }
    });
    if (unknown.length) {
      const list = unknown.map((w) => JSON.stringify(w)).join(', ');
      void reply.code(404).send({
        error: `not in the vocabulary of ${publicSource(served.source)} (${served.vectors.words.length} words): ${list}`,
        unknown,
      });
      return null;
    }
    return served.vectors;
  }

  app.post<{ Body: { words: string[] } }>(
    '/api/word-vectors',
    { schema: { body: schemas.words } },
    async (req, reply) => {
      const wv = need(reply, req.body.words);
      if (!wv) return reply;
      return {
        dim: wv.dim,
        words: req.body.words.map((w) => ({
          word: w,
          vector: Array.from(vectorOf(wv, w), (v) => roundTo(v, 6)),
        })),
      };
    },
  );

  app.post<{ Body: { word: string; k?: number } }>(
    '/api/word-vectors/nearest',
    { schema: { body: schemas.nearest } },
    async (req, reply) => {
      const wv = need(reply, [req.body.word]);
      if (!wv) return reply;
      return { word: req.body.word, nearest: rounded(nearest(wv, req.body.word, { k: req.body.k ?? 10 })) };
    },
  );

  app.post<{ Body: { a: string; b: string; c: string; k?: number; method?: AnalogyMethod } }>(
    '/api/word-vectors/analogy',
    { schema: { body: schemas.analogy } },
    async (req, reply) => {
      const { a, b, c, method = 'add' } = req.body;
      const wv = need(reply, [a, b, c]);
      if (!wv) return reply;
      return { a, b, c, method, answers: rounded(analogy(wv, a, b, c, { k: req.body.k ?? 5, method })) };
    },
  );
}
