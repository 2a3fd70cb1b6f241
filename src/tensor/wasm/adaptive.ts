// Whether a matmul runs on the thread pool or on the calling thread alone, chosen by measuring both.
//
// On a quiet machine the pool is faster (prefill ~1.7-1.8x on two threads, decode ~1.3-1.5x). On a shared
// one it can be slower than one thread: when another process keeps one of two cores busy, the OS runs our
// two threads and it on two cores, each job waits for whichever thread was descheduled last, and one
// thread alone (which the scheduler gives a whole core) wins — GPT-2 decode at 2 threads measured
// 0.71-0.84x the 1-thread speed with such a neighbour, prefill 0.89-0.98x. The take-over (pool.ts) only
// helps while the caller itself runs.
//
// So each kind of product (the kernel and the weight's shape: a decode step's five matrices are five
// kinds) keeps a running cost in each mode, ms per unit of work (rows·n·k), and all run in one mode. Every
// PROBE_EVERY calls, or PROBE_SPACING_MS of them (prefill's calls are long and few), a probe runs the next
// calls in the other mode — PROBE_CALLS calls (a decoded token's worth), or fewer once they took PROBE_MS
// — and the mode becomes the other one if those calls took under SWITCH_BELOW (back to the pool:
// SWITCH_TO_POOL_BELOW) of the same work at the running costs of the mode now, in two probes in a row
// (the second right after the first). A neighbour that comes or goes is noticed within a few dozen
// decoded tokens (the first probes come after a few, then further apart) or within a prefill (the first
// probe after PROBE_SOON_MS); on a quiet machine the probes cost ~1% (a token in 40 at the slower mode's speed, or ~20 ms of prefill in 2 s). Results are the same either way:
// a matmul's outputs do not depend on how its rows are split. The other parallel kernels of inference
// (norms, attention) follow the matmuls' mode.

/** Calls between two probes of the mode not in use, at most (the first ones sooner: ThreadChooser.every). */
const PROBE_EVERY = 2048;
const PROBE_FIRST = 64;
/**
 * …or this much time in calls, ms (the first probe, and the one that confirms a probe's finding, after
 * PROBE_SOON_MS). Prefill's calls are few and long: a GPT-2 prompt of 128 tokens is ~50 calls, 0.3-0.6 s;
 * counting calls alone, the first probe came after a whole prompt and the confirming one after another,
 * and with a busy neighbour both prompts of a best-of-two prefill ran on the pool at 0.91x one thread.
 */
const PROBE_SPACING_MS = 2000;
const PROBE_SOON_MS = 150;
/** Calls a probe lasts at most, and the time after which it ends sooner, ms. */
const PROBE_CALLS = 64;
const PROBE_MS = 20;
/**
 * The other mode must do the probe's work in under this share of the mode now's time to take over (noise).
 * At 0.85, GPT-2 prefill with a busy neighbour stayed on the pool at 0.87-0.89x of one thread's speed (the
 * solo probes were 13% faster, not 15%); quiet, the pool is 1.8x faster, so the margin need not be wide.
 */
const SWITCH_BELOW = 0.92;
/**
 * …and the pool must do it in under this share of the caller alone's time to take back over. Probes of
 * the pool are biased in its favour under a busy neighbour: the worker wakes from sleep, and a woken
 * thread gets its core ahead of the neighbour for a few ms — about one probe. GPT-2 prefill with a
 * neighbour, on the caller alone at 246-254 tok/s (the pool: 210-225), twice measured the pool 11%
 * cheaper in probes and went back to it. Quiet, the pool is 1.3x (decode) to 1.8x (prefill) faster.
 */
const SWITCH_TO_POOL_BELOW = 0.85;
/** Calls of a kind in the mode now (the first not counted) before a probe may compare it. */
const MIN_SAMPLES = 3;
/** Weight of a new measurement in a mode's running cost. */
const EMA = 0.25;

export class ThreadChooser {
  /**
   * Per kind: running ms per unit of work [on the pool, on the caller alone] (NaN until measured), and
   * calls measured in each mode. A kind's first call in a mode is not counted (it pays for cold caches,
   * scratch touched for the first time, code not yet optimized), and a kind enters the comparison only
   * with MIN_SAMPLES in the mode now: a bench's first prefill on two threads once looked slower than one
   * thread alone that way, and the mode flipped on a quiet machine.
   */
  private readonly costs = new Map<string, { cost: [number, number]; n: [number, number] }>();
  /**
   * The mode of every kind at once: mixing them costs more than either (a worker still polling after a
   * pooled call competes with the caller's next call alone), so the choice is one for all kinds.
   */
  private soloNow = false;
  private calls = 0;
  /** ms in calls since the last probe began. */
  private sinceProbe = 0;
  /** Calls left in the probe now running (0: none), its time so far (ms), and what it measured. */
  private probing = 0;
  private probeMs = 0;
  /** Whether the last probe found the other mode cheaper (the next one, soon, must agree). */
  private leaning = false;
  /** Whether the last probe had nothing to compare (its kinds too new in the mode now): the next comes soon. */
  private empty = false;
  /**
   * Calls and ms from one probe to the next: PROBE_FIRST / PROBE_SOON_MS at the start and after a switch,
   * doubled by every probe that keeps the mode, up to PROBE_EVERY / PROBE_SPACING_MS — so that a mode
   * chosen by one unlucky probe at the start is looked at again within a prompt or a few tokens.
   */
  private every = PROBE_FIRST;
  private everyMs = PROBE_SOON_MS;
  /** The probe's calls: per kind, its units of work and ms in the probed mode. */
  private readonly probe = new Map<string, { work: number; ms: number }>();
  /** Calls run on the caller alone, probes started, and switches of mode (the benchmark reports them). */
  readonly stats = { soloCalls: 0, probes: 0, switches: 0 };

  private of(kind: string): { cost: [number, number]; n: [number, number] } {
    let c = this.costs.get(kind);
    if (!c) this.costs.set(kind, (c = { cost: [NaN, NaN], n: [0, 0] }));
    return c;
  }

  /** Whether the next call (of any kind) runs on the caller alone. */
  solo(): boolean {
    return this.probing > 0 ? !this.soloNow : this.soloNow;
  }

  /** Records how long a call of `kind` took (ms) in the mode solo() chose, for `work` units. */
  record(kind: string, solo: boolean, work: number, ms: number): void {
    const { cost, n } = this.of(kind);
    const m = solo ? 1 : 0;
    const x = ms / Math.max(work, 1);
    if (n[m]++ > 0) cost[m] = Number.isNaN(cost[m]) ? x : cost[m] + EMA * (x - cost[m]);
    if (solo) this.stats.soloCalls++;
    if (this.probing > 0) {
      const p = this.probe.get(kind) ?? { work: 0, ms: 0 };
      p.work += work;
      p.ms += ms;
      this.probe.set(kind, p);
      this.probeMs += ms;
      this.probing = this.probeMs >= PROBE_MS ? 0 : this.probing - 1;
      if (this.probing === 0) this.settle();
      return;
    }
    this.sinceProbe += ms;
    // the one that confirms a probe's finding comes soon (prefill: within the same prompt)
    const soon = this.leaning || this.empty;
    const every = soon ? PROBE_FIRST : this.every;
    if (++this.calls >= every || this.sinceProbe >= (soon ? PROBE_SOON_MS : this.everyMs)) {
      this.probing = PROBE_CALLS;
      this.probeMs = 0;
      this.sinceProbe = 0;
      this.calls = 0;
      this.probe.clear();
      this.stats.probes++;
    }
  }

  /**
   * The probe is over: its calls took what they took in the other mode; in the mode now, the same work
   * would have taken each kind's running cost. The other mode takes over when clearly cheaper.
   */
  private settle(): void {
    const now = this.soloNow ? 1 : 0;
    let probed = 0;
    let current = 0;
    for (const [kind, p] of this.probe) {
      const { cost, n } = this.of(kind);
      const c = cost[now];
      if (n[now] < MIN_SAMPLES || Number.isNaN(c)) continue; // too little known in the mode now
      probed += p.ms;
      current += c * p.work;
    }
    this.empty = probed === 0;
    const cheaper = probed > 0 && probed < (this.soloNow ? SWITCH_TO_POOL_BELOW : SWITCH_BELOW) * current;
    // two probes in a row must agree (the second comes PROBE_FIRST calls later): one probe is one sample,
    // and against a running cost still high from a noisy moment a quiet probe looks cheap — on a shared
    // machine a single probe put a quiet GPT-2 decode on one thread (15 ms per token instead of 10.5)
    // until the next probe, 2048 calls later
    if (cheaper && this.leaning) {
      this.soloNow = !this.soloNow;
      this.stats.switches++;
      this.leaning = false;
      this.every = PROBE_FIRST;
      this.everyMs = PROBE_SOON_MS;
    } else {
      this.leaning = cheaper;
      if (!cheaper && !this.empty) {
        this.every = Math.min(2 * this.every, PROBE_EVERY);
        this.everyMs = Math.min(2 * this.everyMs, PROBE_SPACING_MS);
      }
    }
  }
}
