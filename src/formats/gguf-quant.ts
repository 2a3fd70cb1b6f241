// The ggml block codecs live in tensor/ggml-quant.ts (the Q8_0 kernels share them); this path re-exports them.
export * from '../tensor/ggml-quant.js';
