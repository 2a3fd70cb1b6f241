// glasslm — the library entry point.
export { loadModel, buildDecoder, type LoadOptions } from './models/load.js';
// From files' bytes (browser uploads, fetched files): browser-safe, import src/models/load-bytes.ts directly there.
export { loadModelFromFiles, type NamedFile, type BytesLoadOptions } from './models/load-bytes.js';
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
