// The active backend. Blocks call backend() for their kernels; the reference is the default.
import type { Backend } from './backend.js';
import { referenceBackend } from './reference/kernels.js';

let current: Backend = referenceBackend;

export function backend(): Backend {
  return current;
}

export function setBackend(b: Backend): void {
  current = b;
}

export type { Backend } from './backend.js';
export * from './tensor.js';
export { referenceBackend } from './reference/kernels.js';
