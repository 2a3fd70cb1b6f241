// The ONNX Runtime peers of `npm run bench`: onnxruntime-web (its wasm backend — what transformers.js runs
// in a browser) and onnxruntime-node (native MLAS kernels), on the same GPT-2 weights as glasslm, prefill
// only (N tokens in one run, logits of the last one). Both are optional peers, never dependencies:
//   ONNXRUNTIME_NODE_INSTALL=skip npm i --no-save onnxruntime-web onnxruntime-node
// (install them together with node-llama-cpp: `npm i --no-save` removes what the command does not name).
// Absent, a peer is null.
//
// The model file: no Python torch here, so the ONNX graph is written directly — the protobuf encoded by
// hand below (ModelProto → GraphProto of standard opset-17 nodes, f32 initializers as raw_data) from the
// arrays glasslm's bench decoder is built from (bench/models.ts). The graph, for T tokens:
//   x = Gather(wte, ids) + Gather(wpe, positions)                                 [T, D]
//   per block: h = LayerNormalization(x); qkv = Gemm(h, Wqkv, b, transB)          [T, 3D]
//     q, k, v = Split(qkv) → [H, T, hd] (k as [H, hd, T]); s = q·k · 1/√hd + mask  [H, T, T]
//     x += Gemm(Reshape(Softmax(s)·v → [T, D]), Wo, bo, transB)
//     x += Gemm(gelu_tanh(Gemm(LayerNormalization(x), W1, b1, transB)), W2, b2, transB)
//   logits = Gemm(LayerNormalization(x)[T-1], wte, transB)                       [1, vocab]
// Weights keep glasslm's [out, in] layout (Gemm transB = 1), the LM head is wte itself (tied). The caller
// passes positions and the causal mask (0 / -∞) as inputs.
import { writeFileSync } from 'node:fs';

// ---- protobuf, the few wire types ONNX needs --------------------------------------------------------

type Field = Uint8Array;

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // negative int64: ten bytes, two's complement
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
/** Field `field` as a varint (wire type 0). */
const int = (field: number, n: number | bigint): Field => Uint8Array.from([...key(field, 0), ...varint(n)]);
/** Field `field` as length-delimited bytes (wire type 2): strings, sub-messages, raw data. */
function bytes(field: number, data: Uint8Array | string): Field {
  const b = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const head = Uint8Array.from([...key(field, 2), ...varint(b.length)]);
  return concat([head, b]);
}
/** A float field (wire type 5). */
function float(field: number, x: number): Field {
  const b = new Uint8Array(5);
  b.set(key(field, 5));
  new DataView(b.buffer).setFloat32(1, x, true);
  return b;
}
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
const msg = (field: number, parts: Uint8Array[]) => bytes(field, concat(parts));

// ---- ONNX messages (onnx.proto field numbers) -------------------------------------------------------

const FLOAT = 1;
const INT64 = 7;
type Attr = number | number[] | { f: number };

/** AttributeProto: name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7). */
function attribute(name: string, a: Attr): Uint8Array {
  if (Array.isArray(a)) return concat([bytes(1, name), ...a.map((i) => int(8, i)), int(20, 7)]);
  if (typeof a === 'object') return concat([bytes(1, name), float(2, a.f), int(20, 1)]);
  return concat([bytes(1, name), int(3, a), int(20, 2)]);
}

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian). */
function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): Uint8Array {
  const type = data instanceof Float32Array ? FLOAT : INT64;
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return concat([...dims.map((d) => int(1, d)), int(2, type), bytes(8, name), bytes(9, raw)]);
}

/** ValueInfoProto of a tensor: name 1, type 2 → TypeProto.tensor_type 1 → elem_type 1, shape 2 → dim 1. */
function valueInfo(name: string, type: number, dims: Array<number | string>): Uint8Array {
  const dim = dims.map((d) => msg(1, [typeof d === 'number' ? int(1, d) : bytes(2, d)]));
  return concat([bytes(1, name), msg(2, [msg(1, [int(1, type), msg(2, dim)])])]);
}

/** The GPT-2 weights bench/models.ts builds glasslm's decoder from. */
export interface Gpt2OnnxWeights {
  vocab: number;
  ctx: number;
  dim: number;
  heads: number;
  ffn: number;
  eps: number;
  wte: Float32Array;
  wpe: Float32Array;
  layers: Array<{
    qkv: Float32Array;
    qkvB: Float32Array;
    proj: Float32Array;
    projB: Float32Array;
    fc: Float32Array;
    fcB: Float32Array;
    fc2: Float32Array;
    fc2B: Float32Array;
  }>;
}

/** Writes the graph above to `path`; returns its size in bytes. */
export function writeGpt2Onnx(path: string, w: Gpt2OnnxWeights): number {
  const { dim, heads, ffn, eps, vocab, ctx } = w;
  const hd = dim / heads;
  const nodes: Uint8Array[] = [];
  const inits: Uint8Array[] = [];
  let n = 0;
  /** A node; its output(s) get fresh names unless given. NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
  const node = (op: string, inputs: string[], attrs: Record<string, Attr> = {}, outs = 1): string[] => {
    const outputs = Array.from({ length: outs }, (_, i) => `${op.toLowerCase()}${n}_${i}`);
    nodes.push(
      concat([
        ...inputs.map((i) => bytes(1, i)),
        ...outputs.map((o) => bytes(2, o)),
        bytes(3, `n${n++}`),
        bytes(4, op),
        ...Object.entries(attrs).map(([k, a]) => msg(5, [attribute(k, a)])),
      ]),
    );
    return outputs;
  };
  const one = (op: string, inputs: string[], attrs: Record<string, Attr> = {}) => node(op, inputs, attrs)[0];
  const init = (name: string, dims: number[], data: Float32Array | BigInt64Array) => {
    inits.push(tensor(name, dims, data));
    return name;
  };
  const scalar = (name: string, x: number) => init(name, [], Float32Array.of(x));
  const shape = (name: string, dims: number[]) =>
    init(name, [dims.length], BigInt64Array.from(dims.map(BigInt)));
  const ones = init('ones', [dim], new Float32Array(dim).fill(1));
  const zeros = init('zeros', [dim], new Float32Array(dim));
  const ln = (x: string) => one('LayerNormalization', [x, ones, zeros], { axis: -1, epsilon: { f: eps } });
  const gemm = (x: string, wName: string, bName?: string) =>
    one('Gemm', bName ? [x, wName, bName] : [x, wName], { transB: 1 });
  // constants of attention and GELU
  const headsShape = shape('heads_shape', [-1, heads, hd]);
  const rowsShape = shape('rows_shape', [-1, dim]);
  const split = init('split', [3], BigInt64Array.from([dim, dim, dim].map(BigInt)));
  const attnScale = scalar('attn_scale', 1 / Math.sqrt(hd));
  const [half, oneF, c044, sqrt2pi] = [
    scalar('half', 0.5),
    scalar('one', 1),
    scalar('c044715', 0.044715),
    scalar('sqrt_2_over_pi', Math.sqrt(2 / Math.PI)),
  ];

  // embeddings: token + position
  init('wte', [vocab, dim], w.wte);
  init('wpe', [ctx, dim], w.wpe);
  let x = one('Add', [one('Gather', ['wte', 'ids']), one('Gather', ['wpe', 'positions'])]); // [T, D]
  w.layers.forEach((l, i) => {
    const p = `blk${i}`;
    init(`${p}.qkv`, [3 * dim, dim], l.qkv);
    init(`${p}.qkv_b`, [3 * dim], l.qkvB);
    init(`${p}.proj`, [dim, dim], l.proj);
    init(`${p}.proj_b`, [dim], l.projB);
    init(`${p}.fc`, [ffn, dim], l.fc);
    init(`${p}.fc_b`, [ffn], l.fcB);
    init(`${p}.fc2`, [dim, ffn], l.fc2);
    init(`${p}.fc2_b`, [dim], l.fc2B);
    // attention: q, k, v per head, scores + causal mask, softmax, values
    const qkv = gemm(ln(x), `${p}.qkv`, `${p}.qkv_b`); // [T, 3D]
    const [q, k, v] = node('Split', [qkv, split], { axis: 1 }, 3).map((t) => one('Reshape', [t, headsShape]));
    const qh = one('Transpose', [q], { perm: [1, 0, 2] }); // [H, T, hd]
    const kh = one('Transpose', [k], { perm: [1, 2, 0] }); // [H, hd, T]
    const vh = one('Transpose', [v], { perm: [1, 0, 2] }); // [H, T, hd]
    const s = one('Add', [one('Mul', [one('MatMul', [qh, kh]), attnScale]), 'mask']); // [H, T, T]
    const o = one('MatMul', [one('Softmax', [s], { axis: -1 }), vh]); // [H, T, hd]
    const rows = one('Reshape', [one('Transpose', [o], { perm: [1, 0, 2] }), rowsShape]); // [T, D]
    x = one('Add', [x, gemm(rows, `${p}.proj`, `${p}.proj_b`)]);
    // feed-forward: GELU (tanh form) between the two projections
    const u = gemm(ln(x), `${p}.fc`, `${p}.fc_b`); // [T, F]
    const cube = one('Mul', [one('Mul', [u, u]), u]);
    const inner = one('Mul', [one('Add', [u, one('Mul', [cube, c044])]), sqrt2pi]);
    const g = one('Mul', [one('Mul', [u, half]), one('Add', [one('Tanh', [inner]), oneF])]);
    x = one('Add', [x, gemm(g, `${p}.fc2`, `${p}.fc2_b`)]);
  });
  // the last row through the final norm and the tied head
  const starts = shape('last_start', [-1]);
  const ends = shape('last_end', [2 ** 31 - 1]);
  const axes = shape('last_axes', [0]);
  const last = one('Slice', [ln(x), starts, ends, axes]); // [1, D]
  const logits = gemm(last, 'wte');
  const graph = concat([
    ...nodes.map((b) => bytes(1, b)),
    bytes(2, 'gpt2'),
    ...inits.map((b) => bytes(5, b)),
    bytes(11, valueInfo('ids', INT64, ['T'])),
    bytes(11, valueInfo('positions', INT64, ['T'])),
    bytes(11, valueInfo('mask', FLOAT, ['T', 'T'])),
    bytes(12, valueInfo(logits, FLOAT, [1, vocab])),
  ]);
  // ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1, version 2)
  const model = concat([
    int(1, 8),
    bytes(2, 'glasslm bench'),
    bytes(7, graph),
    msg(8, [bytes(1, ''), int(2, 17)]),
  ]);
  writeFileSync(path, model);
  return model.length;
}

// ---- the peers ------------------------------------------------------------------------------------------

/* eslint-disable @typescript-eslint/no-explicit-any -- optional packages, loaded untyped */

export interface OrtPeer {
  /** 'onnxruntime-web' (wasm backend) or 'onnxruntime-node' (CPU execution provider). */
  engine: string;
  version: string;
  /** A session on `threads` threads over the ONNX file. */
  session(path: string, threads: number): Promise<OrtSession>;
}
export interface OrtSession {
  /** Logits [vocab] of the last of `ids`, prefilled in one run. */
  lastLogits(ids: number[]): Promise<Float32Array>;
  release(): Promise<void>;
}

/** The inputs of the graph for `ids`: ids, positions 0.., the causal mask. */
function feeds(ort: any, ids: number[]): Record<string, unknown> {
  const t = ids.length;
  const mask = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) mask[i * t + j] = -Infinity;
  return {
    ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [t]),
    positions: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [t]),
    mask: new ort.Tensor('float32', mask, [t, t]),
  };
}

/** The package's version, as onnxruntime-common records it (env.versions.web / .node). */
function version(ort: any, kind: 'web' | 'node'): string {
  return String(ort.env?.versions?.[kind] ?? ort.env?.versions?.common ?? 'unknown');
}

/** The peers that are installed (each null where its package is absent or does not start). */
export async function openOrtPeers(
  log: (s: string) => void,
): Promise<{ web: OrtPeer | null; node: OrtPeer | null }> {
  const load = async (pkg: string): Promise<any> => {
    try {
      return await import(pkg);
    } catch (e) {
      log(`${pkg}: not installed (${(e as Error).message.split('\n')[0]})`);
      return null;
    }
  };
  const web = await load('onnxruntime-web');
  const node = await load('onnxruntime-node');
  const peer = (ort: any, engine: string, v: string, configure: (threads: number) => any): OrtPeer => ({
    engine,
    version: v,
    async session(path, threads) {
      const s = await ort.InferenceSession.create(path, configure(threads));
      return {
        async lastLogits(ids) {
          const out = await s.run(feeds(ort, ids));
          return Float32Array.from(out[s.outputNames[0]].data as Float32Array);
        },
        release: () => s.release(),
      };
    },
  });
  return {
    web:
      web &&
      peer(web.default ?? web, 'onnxruntime-web', version(web.default ?? web, 'web'), (threads) => {
        const ort = web.default ?? web;
        ort.env.wasm.numThreads = threads; // fixed once the wasm module starts: a session per thread count
        ort.env.wasm.simd = true;
        return { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
      }),
    node:
      node &&
      peer(node.default ?? node, 'onnxruntime-node', version(node.default ?? node, 'node'), (threads) => ({
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      })),
  };
}

// ---- one measurement per process --------------------------------------------------------------------------
// onnxruntime-web fixes its thread count when its wasm module starts, so every (engine, threads) pair runs
// in a child process of its own: `tsx bench/ort-peer.ts <engine> <onnx file> <threads> <tokens> <reps>`.

export interface OrtMeasurement {
  engine: string;
  version: string;
  threads: number;
  tokens: number;
  /** Best of reps prefills (after one warm-up run), tokens/s. */
  prefillTokPerS: number;
  sessionSeconds: number;
  /** Logits of the last token (for the same-model check). */
  logits: number[];
}

/** Prefill `ids` in a child process on `engine` at `threads` threads; null (with the reason logged) if it fails. */
export async function measureOrt(
  engine: 'web' | 'node',
  path: string,
  threads: number,
  ids: number[],
  reps: number,
  log: (s: string) => void,
): Promise<OrtMeasurement | null> {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      engine,
      path,
      String(threads),
      ids.join(','),
      String(reps),
    ],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    log(
      `onnxruntime-${engine} ${threads}t: failed (${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')})`,
    );
    return null;
  }
  const m = JSON.parse(line) as OrtMeasurement | { absent: string };
  if ('absent' in m) {
    log(m.absent);
    return null;
  }
  return m;
}

if (process.argv[1] && (await import('node:url')).fileURLToPath(import.meta.url) === process.argv[1]) {
  const [engine, path, threads, idList, reps] = process.argv.slice(2);
  const ids = idList.split(',').map(Number);
  const notes: string[] = [];
  const peers = await openOrtPeers((s) => notes.push(s));
  const peer = engine === 'web' ? peers.web : peers.node;
  if (!peer) {
    reply({ absent: notes.join('; ') || `onnxruntime-${engine}: absent` });
  } else {
    const t0 = performance.now();
    const s = await peer.session(path, Number(threads));
    const sessionSeconds = (performance.now() - t0) / 1000;
    const logits = await s.lastLogits(ids); // warm-up
    let best = Infinity;
    for (let r = 0; r < Number(reps); r++) {
      const t = performance.now();
      await s.lastLogits(ids);
      best = Math.min(best, performance.now() - t);
    }
    await s.release();
    const m: OrtMeasurement = {
      engine: peer.engine,
      version: peer.version,
      threads: Number(threads),
      tokens: ids.length,
      prefillTokPerS: (ids.length / best) * 1000,
      sessionSeconds,
      logits: Array.from(logits),
    };
    reply(m);
  }
}

/** The child's one line of JSON; then exit (ORT-web's workers would keep it alive) once it is written. */
function reply(m: unknown): void {
  process.stdout.write(JSON.stringify(m) + '\n', () => process.exit(0));
}
