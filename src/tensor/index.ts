// The tensor layer: shapes, weight matrices, and the kernel backends that compute on them.
export { backend, setBackend } from './active.js';
export type { AttentionGrad, Backend, GemmLayout } from './backend.js';
export * from './tensor.js';
export * from './quant.js';
export { referenceBackend } from './reference/kernels.js';
export { createWasmBackend, threadsUsable, WasmBackend, type WasmBackendOptions } from './wasm/index.js';
