// The one rule for how many threads run, used where a pool is made (index.ts) and by every parallel kernel
// call (backend.ts): the count asked for, whole and at least 1, at most what there is.

/**
 * Threads for a new pool or a kernel call: `requested` rounded down, at least 1, at most `available`
 * (a kernel call: the pool's threads, 1 without a pool).
 */
export function threadCount(requested: number, available: number): number {
  return Math.max(1, Math.min(Math.floor(requested), available));
}
