// How many heavy requests (/api/generate, /api/trace) run at once, and how much memory they may hold
// together: each asks for a slot and its bytes (its KV cache; a trace also its recording) before it
// starts. Past the slots or the bytes a request waits in a bounded queue, first come first served; past
// the queue it is refused at once (429), after waiting too long it is refused (503), and one that could
// never fit is refused outright (413) — each before any byte of the answer, with a clear message.

export interface AdmissionOptions {
  /** Requests computed at once (default 4). */
  parallel?: number;
  /** Requests that may wait for a slot (default 16); past it, 429. */
  queue?: number;
  /** Bytes the running requests may hold together (default 1 GiB). */
  maxBytes?: number;
  /** Longest wait for a slot, ms (default 30 s); past it, 503. */
  queueTimeoutMs?: number;
}

/** A request that cannot be served now (or at all): its status, message and Retry-After (seconds). */
export class Refusal extends Error {
  constructor(
    readonly statusCode: 413 | 429 | 503,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

interface Waiter {
  bytes: number;
  grant: (release: () => void) => void;
  refuse: (r: Refusal) => void;
}

const MiB = 2 ** 20;
const mib = (b: number) => `${(b / MiB).toFixed(b < 10 * MiB ? 1 : 0)} MiB`;

export class Admission {
  readonly parallel: number;
  readonly queueLimit: number;
  readonly maxBytes: number;
  readonly queueTimeoutMs: number;
  running = 0;
  bytes = 0;
  private readonly waiting: Waiter[] = [];

  constructor(o: AdmissionOptions = {}) {
    this.parallel = o.parallel ?? 4;
    this.queueLimit = o.queue ?? 16;
    this.maxBytes = o.maxBytes ?? 1024 * MiB;
    this.queueTimeoutMs = o.queueTimeoutMs ?? 30_000;
    if (!(Number.isInteger(this.parallel) && this.parallel >= 1))
      throw new RangeError(`parallel must be an integer >= 1, got ${o.parallel}`);
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with a release function once the request may run (call it exactly when done; more calls
   * do nothing); rejects with a Refusal. `signal`: the client went away while waiting.
   */
  acquire(bytes: number, what: string, signal?: AbortSignal): Promise<() => void> {
    if (bytes > this.maxBytes) {
      return Promise.reject(
        new Refusal(
          413,
          `${what} would hold ${mib(bytes)}, more than this server's limit of ${mib(this.maxBytes)} ` +
            `for all requests together (glasslm serve --max-memory-mb): ask for fewer tokens`,
        ),
      );
    }
    if (this.waiting.length === 0 && this.fits(bytes)) return Promise.resolve(this.take(bytes));
    if (this.waiting.length >= this.queueLimit) {
      return Promise.reject(
        new Refusal(
          429,
          `the server is busy: ${this.running} requests running and ${this.waiting.length} waiting ` +
            `(glasslm serve --parallel ${this.parallel}); try again shortly`,
          1,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
      };
      const w: Waiter = {
        bytes,
        grant: (release) => {
          done();
          resolve(release);
        },
        refuse: (r) => {
          done();
          reject(r);
          this.pump(); // the head of the queue may have changed
        },
      };
      const onAbort = () => w.refuse(new Refusal(503, 'the client went away while waiting'));
      const timer = setTimeout(
        () =>
          w.refuse(
            new Refusal(
              503,
              `the server is busy: no slot freed up within ${this.queueTimeoutMs / 1000} s ` +
                `(${this.running} requests running); try again shortly`,
              Math.max(1, Math.ceil(this.queueTimeoutMs / 4000)),
            ),
          ),
        this.queueTimeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(w);
    });
  }

  private fits(bytes: number): boolean {
    return this.running < this.parallel && this.bytes + bytes <= this.maxBytes;
  }

  private take(bytes: number): () => void {
    this.running++;
    this.bytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.bytes -= bytes;
      this.pump();
    };
  }

  /** Lets waiting requests in, in order, while the first one fits. */
  private pump(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].bytes)) {
      const w = this.waiting[0];
      w.grant(this.take(w.bytes));
    }
  }
}
