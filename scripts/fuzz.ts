// npm run fuzz — loads mutated model and tokenizer files through the real loaders and classifies each:
// a clean error (a GlassError: our one-line message), a crash (any other exception: RangeError, TypeError…
// not from our validation), a hang (over --time-limit seconds of CPU time on one file, or 6× that in wall
// time), or too much memory (RSS above --mem-limit).
// Files run in child processes, one format at a time, while this process watches each child's RSS
// (sampled from /proc every 10 ms) and its progress; a child that hangs or grows too large is killed and a
// fresh one resumes at the next file. Writes bench/results/fuzz-<date>.json.
//   npm run fuzz -- --per-format 10000 [--formats gguf,llama2c,...] [--seed 1] [--time-limit 10] [--mem-limit 2048]
//                   [--jobs 5]   (formats at once: one child process each)
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  bases,
  classify,
  FORMATS,
  loadMutation,
  mutate,
  sharedDir,
  type Format,
  type Outcome,
} from './fuzz/cases.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SELF = fileURLToPath(import.meta.url);

export interface FuzzOptions {
  perFormat: number;
  formats?: readonly Format[];
  seed?: number;
  /** CPU seconds one file may take before it counts as a hang (wall time: 6× as long). */
  timeLimit?: number;
  /** MB of RSS a child may reach before the file counts as a memory failure. */
  memLimitMb?: number;
  /** Formats fuzzed at once (each in its own child process). */
  jobs?: number;
  /** Files per child process before a fresh one starts (bounds leaks' effect on the figures). */
  batch?: number;
  log?: (line: string) => void;
}

export interface FormatReport {
  format: Format;
  bases: string[];
  tried: number;
  outcomes: Record<Outcome, number>;
  /** Up to 20 examples per failing outcome: index, base, mutation, message. */
  failures: Array<{ index: number; outcome: Outcome; base: string; kind: string; message: string }>;
  /** Largest file tried, bytes. */
  maxFileBytes: number;
  /** The child's RSS before the first file (node + tsx + the base files), MB. */
  baselineRssMb: number;
  /** Highest RSS seen while a file loaded, MB, and the file's size. */
  peakRssMb: number;
  /** Largest growth of RSS above the level before the file, MB, with that file's size. */
  worstGrowth: { index: number; mb: number; fileBytes: number; base: string; kind: string };
  /** Largest (growth / file size) over files of at least 64 KB. */
  worstRatio: { index: number; ratio: number; fileBytes: number; growthMb: number };
  seconds: number;
  filesPerSecond: number;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15 of stat, counted after the name
  } catch {
    return 0;
  }
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

interface ChildEvent {
  t: 'ready' | 'start' | 'end';
  i?: number;
  outcome?: Outcome;
  message?: string;
  base?: string;
  kind?: string;
  bytes?: number;
  rss?: number;
  bases?: string[];
}

/** Runs files [from, to) of a format in one child; resolves with the index it stopped at. */
function runChild(
  format: Format,
  seed: number,
  from: number,
  to: number,
  opts: Required<Omit<FuzzOptions, 'formats' | 'log' | 'jobs'>>,
  onResult: (
    i: number,
    r: {
      outcome: Outcome;
      message: string;
      base: string;
      kind: string;
      bytes: number;
      growthMb: number;
      peakMb: number;
    },
  ) => void,
  onReady: (baselineMb: number, baseLabels: string[]) => void,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--expose-gc',
        `--max-old-space-size=${opts.memLimitMb}`,
        SELF,
        '--child',
        format,
        String(seed),
        String(from),
        String(to),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let current: {
      i: number;
      base: string;
      kind: string;
      bytes: number;
      rss0: number;
      peak: number;
      since: number;
      cpu0: number;
    } | null = null;
    let next = from;
    let stderr = '';
    let killedFor: Outcome | null = null;
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    const watch = setInterval(() => {
      const rss = rssMb(child.pid!);
      if (current) {
        current.peak = Math.max(current.peak, rss);
        if (rss > opts.memLimitMb) killedFor = 'memory';
        // A hang is CPU time, not wall time: on a shared machine a busy neighbour must not make a slow
        // file look like a hung one. A child that neither computes nor answers for 6× the limit hangs too.
        else if (
          cpuSeconds(child.pid!) - current.cpu0 > opts.timeLimit ||
          Date.now() - current.since > 6 * opts.timeLimit * 1000
        )
          killedFor = 'hang';
        if (killedFor) child.kill('SIGKILL');
      }
    }, 10);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let ev: ChildEvent;
      try {
        ev = JSON.parse(line) as ChildEvent;
      } catch {
        return; // a loader printing to stdout: ignore
      }
      if (ev.t === 'ready') onReady(ev.rss!, ev.bases!);
      else if (ev.t === 'start') {
        const rss = rssMb(child.pid!);
        current = {
          i: ev.i!,
          base: ev.base!,
          kind: ev.kind!,
          bytes: ev.bytes!,
          rss0: rss,
          peak: rss,
          since: Date.now(),
          cpu0: cpuSeconds(child.pid!),
        };
      } else if (ev.t === 'end' && current) {
        const peak = Math.max(current.peak, rssMb(child.pid!), ev.rss ?? 0);
        onResult(current.i, {
          outcome: ev.outcome!,
          message: ev.message ?? '',
          base: current.base,
          kind: current.kind,
          bytes: current.bytes,
          growthMb: Math.max(0, peak - current.rss0),
          peakMb: peak,
        });
        next = current.i + 1;
        current = null;
      }
    });
    child.on('exit', (code, signal) => {
      clearInterval(watch);
      if (current) {
        // the child died inside a file: killed by us (hang, memory) or on its own (a fatal crash)
        const outcome: Outcome = killedFor ?? 'crash';
        const message =
          killedFor === 'hang'
            ? `no answer after ${opts.timeLimit} s of CPU time`
            : killedFor === 'memory'
              ? `RSS passed ${opts.memLimitMb} MB (peak seen ${current.peak.toFixed(0)} MB)`
              : `the process died (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
        onResult(current.i, {
          outcome,
          message,
          base: current.base,
          kind: current.kind,
          bytes: current.bytes,
          growthMb: current.peak - current.rss0,
          peakMb: current.peak,
        });
        next = current.i + 1;
      } else if (next < to && code !== 0) {
        // died before starting a file (base files unreadable?): give up on the rest of this range
        process.stderr.write(`fuzz child for ${format} failed: ${stderr}\n`);
        next = to;
      }
      resolve(next);
    });
  });
}

export async function runFuzz(options: FuzzOptions): Promise<FormatReport[]> {
  const opts = {
    perFormat: options.perFormat,
    seed: options.seed ?? 1,
    timeLimit: options.timeLimit ?? 10,
    memLimitMb: options.memLimitMb ?? 2048,
    batch: options.batch ?? 500,
  };
  const log = options.log ?? (() => {});
  const formats = options.formats ?? FORMATS;
  const reports: FormatReport[] = new Array(formats.length);
  // up to `jobs` formats at once, each in its own child process; reports stay in the formats' order
  let nextFormat = 0;
  const worker = async () => {
    while (nextFormat < formats.length) {
      const k = nextFormat++;
      reports[k] = await fuzzFormat(formats[k], opts, log);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.jobs ?? 1) }, worker));
  return reports;
}

async function fuzzFormat(
  format: Format,
  opts: Required<Omit<FuzzOptions, 'formats' | 'log' | 'jobs'>>,
  log: (line: string) => void,
): Promise<FormatReport> {
  const t0 = Date.now();
  const rep: FormatReport = {
    format,
    bases: [],
    tried: 0,
    outcomes: { loaded: 0, error: 0, crash: 0, hang: 0, memory: 0 },
    failures: [],
    maxFileBytes: 0,
    baselineRssMb: 0,
    peakRssMb: 0,
    worstGrowth: { index: -1, mb: 0, fileBytes: 0, base: '', kind: '' },
    worstRatio: { index: -1, ratio: 0, fileBytes: 0, growthMb: 0 },
    seconds: 0,
    filesPerSecond: 0,
  };
  let i = 0;
  while (i < opts.perFormat) {
    const to = Math.min(opts.perFormat, i + opts.batch);
    i = await runChild(
      format,
      opts.seed,
      i,
      to,
      opts,
      (idx, r) => {
        rep.tried++;
        rep.outcomes[r.outcome]++;
        rep.maxFileBytes = Math.max(rep.maxFileBytes, r.bytes);
        rep.peakRssMb = Math.max(rep.peakRssMb, r.peakMb);
        if (r.growthMb > rep.worstGrowth.mb)
          rep.worstGrowth = { index: idx, mb: r.growthMb, fileBytes: r.bytes, base: r.base, kind: r.kind };
        const ratio = r.growthMb / (r.bytes / 2 ** 20);
        if (r.bytes >= 65536 && ratio > rep.worstRatio.ratio)
          rep.worstRatio = { index: idx, ratio, fileBytes: r.bytes, growthMb: r.growthMb };
        if (r.outcome !== 'loaded' && r.outcome !== 'error') {
          if (rep.failures.filter((f) => f.outcome === r.outcome).length < 20)
            rep.failures.push({
              index: idx,
              outcome: r.outcome,
              base: r.base,
              kind: r.kind,
              message: r.message,
            });
          log(`${format} #${idx} ${r.outcome}: ${r.base} / ${r.kind}: ${r.message}`);
        }
      },
      (baseline, labels) => {
        if (!rep.baselineRssMb) rep.baselineRssMb = baseline;
        rep.bases = labels;
      },
    );
    if (rep.tried === 0) break; // no base files for this format
  }
  rep.seconds = (Date.now() - t0) / 1000;
  rep.filesPerSecond = rep.tried / rep.seconds;
  const o = rep.outcomes;
  log(
    `${format}: ${rep.tried} files in ${rep.seconds.toFixed(0)} s — loaded ${o.loaded}, clean errors ${o.error}, crashes ${o.crash}, hangs ${o.hang}, memory ${o.memory}; peak RSS ${rep.peakRssMb.toFixed(0)} MB (baseline ${rep.baselineRssMb.toFixed(0)} MB), worst growth ${rep.worstGrowth.mb.toFixed(1)} MB on a ${(rep.worstGrowth.fileBytes / 2 ** 20).toFixed(2)} MB file`,
  );
  return rep;
}

const GC_EVERY = 20;

/** Child mode: regenerate mutations [from, to) of a format, load each, print one JSON line per event. */
async function child(format: Format, seed: number, from: number, to: number): Promise<void> {
  const all = await bases(format);
  const say = (ev: ChildEvent) => process.stdout.write(JSON.stringify(ev) + '\n');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  say({ t: 'ready', rss: process.memoryUsage().rss / 2 ** 20, bases: all.map((b) => b.label) });
  if (!all.length) return;
  for (let i = from; i < to; i++) {
    const m = mutate(all, seed, i);
    say({ t: 'start', i, base: m.base.label, kind: m.kind, bytes: m.bytes.length });
    let outcome: Outcome = 'loaded';
    let message = '';
    try {
      await loadMutation(format, m);
    } catch (e) {
      ({ outcome, message } = classify(e));
    }
    // its own RSS too: the watcher's /proc sample can come too late (a child that has already exited)
    say({ t: 'end', i, outcome, message, rss: process.memoryUsage().rss / 2 ** 20 });
    if ((i + 1) % GC_EVERY === 0) gc?.(); // keeps RSS near its baseline, so growth is measured per file
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    await child(args[1] as Format, Number(args[2]), Number(args[3]), Number(args[4]));
    return;
  }
  const opt = (name: string, fallback: string) => {
    const k = args.indexOf(`--${name}`);
    return k >= 0 && args[k + 1] !== undefined ? args[k + 1] : fallback;
  };
  const formats = opt('formats', FORMATS.join(',')).split(',') as Format[];
  for (const f of formats)
    if (!FORMATS.includes(f)) {
      console.error(`fuzz: unknown format "${f}" (expected ${FORMATS.join(', ')})`);
      process.exit(2);
    }
  const perFormat = Number(opt('per-format', '10000'));
  if (!sharedDir())
    console.error('fuzz: ../shared is absent: only the files written here are mutated (set GLASSLM_SHARED)');
  const started = new Date();
  const reports = await runFuzz({
    perFormat,
    formats,
    seed: Number(opt('seed', '1')),
    timeLimit: Number(opt('time-limit', '10')),
    memLimitMb: Number(opt('mem-limit', '2048')),
    jobs: Number(opt('jobs', '1')),
    log: (l) => console.log(l),
  });
  const out = {
    kind: 'fuzz',
    date: started.toISOString(),
    command: `npm run fuzz -- ${args.join(' ')}`.trim(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    perFormat,
    reports,
  };
  const dir = join(HERE, '../bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `fuzz-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`wrote ${file}`);
  const bad = reports.reduce((n, r) => n + r.outcomes.crash + r.outcomes.hang + r.outcomes.memory, 0);
  process.exit(bad ? 1 : 0);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  main().catch((e) => {
    console.error(`fuzz: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  });
}
