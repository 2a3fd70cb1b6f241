// The active backend. Blocks call backend() for their kernels; the reference is the default. Kept apart
// from index.ts so that tensor.ts (matrixF32 / matrixQ8_0 place weights through the active backend) can
// import it without an import cycle.
import type { Backend } from './backend.js';
import { referenceBackend } from './reference/kernels.js';

let current: Backend = referenceBackend;

export function backend(): Backend {
  return current;
}

/**
 * Makes `b` the backend every kernel call goes to. Weight matrices are placed in the memory of the backend
 * active when they are built (matrixF32/matrixQ8_0), so set it before loading a model.
 */
export function setBackend(b: Backend): void {
  current = b;
}
