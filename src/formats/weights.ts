// Weights: what every file reader (safetensors, GGUF, llama2.c) gives and every model loader (GPT-2,
// Llama, BERT) reads — named float32 tensors — and the checked read the loaders share. Pure: no Node APIs.
import { GlassError } from '../util/errors.js';

/** Where a tensor lives and what it looks like on disk. */
export interface TensorInfo {
  name: string;
  /** The dtype as stored in the file ('F32', 'F16', 'BF16', ...). read() always returns float32. */
  dtype: string;
  shape: number[];
  /** The file the tensor is stored in (a path or URL, as named by its ByteSource). */
  file: string;
}

/** Named tensors that a model can load. Implemented by safetensors (single or sharded) and, later, GGUF. */
export interface WeightSource {
  /** Shown in error messages: the file, index or folder the weights come from. */
  readonly name: string;
  /** Tensor names in file order. */
  names(): string[];
  has(name: string): boolean;
  /** Throws GlassError NOT_FOUND for an unknown name. */
  info(name: string): TensorInfo;
  /**
   * Reads one tensor, converted to float32 (F16/BF16/F64 and integer dtypes are converted on load): into
   * `into` when given (its first `count` values; a loader passes storage in the kernels' memory, so the
   * weights are held once), else into a new array. Returns the array written.
   */
  read(name: string, into?: Float32Array): Promise<Float32Array>;
  /**
   * The tensor's bytes as the file stores them, with their dtype (GGUF: the ggml type name): for loaders
   * that keep quantized blocks as they are (Q4_0, Q4_K, Q5_K, Q6_K). Only sources whose tensors are
   * row-major in the loader's order have it (GGUF).
   */
  readRaw?(name: string): Promise<{ type: string; bytes: Uint8Array }>;
  close(): Promise<void>;
}

/**
 * `src` with its tensors under other names: rename(theirs) gives the name a loader asks for (undefined:
 * the tensor keeps its own). A GGUF file read by HF names, a multimodal folder's text model by a text
 * model's names.
 */
export function renamedSource(src: WeightSource, rename: (name: string) => string | undefined): WeightSource {
  const theirs = new Map<string, string>();
  for (const n of src.names()) theirs.set(rename(n) ?? n, n);
  const order = [...theirs.keys()];
  const get = (name: string): string => {
    const n = theirs.get(name);
    if (n === undefined) throw tensorNotFound(src.name, name, order);
    return n;
  };
  return {
    name: src.name,
    names: () => order.slice(),
    has: (name) => theirs.has(name),
    info: (name) => ({ ...src.info(get(name)), name }),
    read: (name, into) => src.read(get(name), into),
    ...(src.readRaw && { readRaw: (name: string) => src.readRaw!(get(name)) }),
    close: () => src.close(),
  };
}

/** The error every WeightSource gives for a tensor it lacks, naming up to three similar names. */
export function tensorNotFound(where: string, name: string, names: string[]): GlassError {
  const tail = name.split('.').slice(-2).join('.');
  const near = names.filter((n) => n.endsWith(tail)).slice(0, 3);
  const hint = near.length > 0 ? `; similar: ${near.map((n) => `"${n}"`).join(', ')}` : '';
  return new GlassError(
    'NOT_FOUND',
    `${where}: no tensor "${name}" (the file has ${names.length} tensors${hint})`,
  );
}

/**
 * src.read(name, into), and the values in `into` whatever the source did with it (a source may return a
 * new array instead): callers that pass storage can rely on it being filled.
 */
export async function readInto(src: WeightSource, name: string, into?: Float32Array): Promise<Float32Array> {
  const got = await src.read(name, into);
  if (!into || got === into) return got;
  into.set(got.subarray(0, into.length));
  return into;
}

/** `into` checked against a tensor's size (or a new array of that size): where a read() writes. */
export function readTarget(where: string, name: string, count: number, into?: Float32Array): Float32Array {
  if (!into) return new Float32Array(count);
  if (into.length < count)
    throw new Error(
      `${where}: tensor "${name}" has ${count} values, but read() was given room for ${into.length}`,
    );
  return into;
}

/**
 * Checks that `name` exists in `src` with `shape` (no read, no allocation): every buffer is sized only after
 * this. `source` names what implies the shape (config.json, the GGUF metadata, ...); `asked` is the name
 * the loader asked for when `name` is that name resolved with a prefix.
 */
export function checkShape(
  src: WeightSource,
  name: string,
  shape: readonly number[],
  source: string,
  asked = name,
): void {
  if (!src.has(name))
    throw new GlassError(
      'NOT_FOUND',
      `${src.name}: tensor "${asked}" is missing (expected shape [${shape}])`,
    );
  const info = src.info(name);
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new GlassError(
      'BAD_FILE',
      `${info.file}: tensor "${name}" has shape [${info.shape}], but ${source} implies [${shape}]`,
    );
  }
}

/** checkShape, then readInto: the one checked read every family's loader uses. */
export async function readChecked(
  src: WeightSource,
  name: string,
  shape: readonly number[],
  source: string,
  into?: Float32Array,
  asked = name,
): Promise<Float32Array> {
  checkShape(src, name, shape, source, asked);
  return readInto(src, name, into);
}
