// glasslm — the library entry point.
export { loadModel, buildDecoder, type LoadOptions } from './models/load-node.js';
// From files' bytes (browser uploads, fetched files): browser-safe, import src/models/load-files.ts directly there.
export { loadModelFromFiles, type NamedFile, type BytesLoadOptions } from './models/load-files.js';
export { LanguageModel } from './models/model.js';
export { Decoder } from './models/decoder.js';
export type { GenerateOptions, Generation, GenerationResult, StopReason } from './generate/generate.js';
export { Sampler, softmax, argmax, topK, type SamplingOptions } from './generate/sampler.js';
export type { Tokenizer, TokenSpan, IncrementalDecoder, SpecialTokens } from './tokenizers/tokenizer.js';
export { GlassError, isGlassError, type GlassErrorCode } from './util/errors.js';
export { backend, setBackend, referenceBackend, type Backend, type Tensor } from './tensor/index.js';
export {
  createWasmBackend,
  quantizeMatrixQ8_0,
  type WasmBackend,
  type WasmBackendOptions,
  type Matrix,
  type MatrixQ8_0,
} from './tensor/index.js';
// Sentence embeddings (BERT-family encoders, sentence-transformers folders) and explained similarity.
export { loadEmbedder } from './embed/load.js';
export { SentenceEmbedder, type EmbedOptions, type ExplainOptions } from './embed/embedder.js';
export { cosine, l2normalize, type PoolingMode } from './embed/pooling.js';
export type { SimilarityExplanation, ExplainedToken, ExplainedPair } from './embed/explain.js';
// Semantic search over a folder of documents: PGlite (in process) or PostgreSQL with pgvector.
export {
  openDb,
  indexFolder,
  searchStore,
  findDocuments,
  VectorStore,
  textEmbedder,
  type TextEmbedder,
  type SqlClient,
  type OpenDbOptions,
  type IndexOptions,
  type IndexReport,
  type IndexEvent,
  type Hit,
  type SearchOptions,
} from './search/index.js';
// Static word vectors (word2vec, GloVe): train, load, query. Browser-safe core in src/word2vec/
// (formats.ts, query.ts, train.ts); these two add files and worker threads.
export { loadWordVectors, saveWordVectors } from './word2vec/load-node.js';
export { trainWord2VecThreads, type TrainProgress, type TrainRun } from './word2vec/train-node.js';
export { trainWord2Vec, defaultOptions as word2vecDefaults, type Word2VecOptions } from './word2vec/train.js';
export { parseVectors, writeText, writeBinary, type VectorFormat } from './word2vec/formats.js';
export {
  nearest,
  analogy,
  similarity,
  vectorOf,
  evaluateAnalogies,
  type Scored,
  type AnalogyMethod,
  type AnalogyScores,
} from './word2vec/query.js';
export type { WordVectors } from './word2vec/vectors.js';
