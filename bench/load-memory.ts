// Load memory: the peak resident memory of a process that loads GPT-2 124M (f32 safetensors, random
// weights of the real shapes, written once to bench/.cache/) and builds it for the kernels — the issue's
// "load without doubling memory" (target: peak RSS under 1.3x the weights' size). Each load runs in a
// fresh child process, so its peak (getrusage maxrss, the kernel's VmHWM) is its own.
//   npx tsx bench/load-memory.ts [--threads 0|1|2] [--dtype f32|q8_0]
//   node dist/bench/load-memory.js …   (after `npm run build`: no TypeScript loader in the child's memory)
// Prints and writes bench/results/load-memory-<time>.json: weights bytes, RSS before loading (node
// itself), peak RSS, and the ratios peak / weights and (peak − before) / weights.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSafetensors, type TensorToWrite } from '../src/formats/safetensors.js';
import { loadModel } from '../src/models/load-node.js';
import { createWasmBackend, setBackend, type WeightDtype } from '../src/tensor/index.js';
import { rand } from './models.js';

/** The package folder (this file runs as bench/load-memory.ts, or compiled under dist/bench/). */
function packageFolder(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist/')) dir = join(dir, '..') + '/';
  return dir;
}
const ROOT = packageFolder();
/** Node's flags for the child: TypeScript through tsx unless this is the compiled file. */
const LOADER = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];
const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    threads: { type: 'string' },
    dtype: { type: 'string', default: 'f32' },
  },
});

/** The child: RSS before, load, peak RSS after (MiB), as one JSON line. */
async function child(dir: string): Promise<void> {
  const threads = Number(values.threads ?? 2);
  if (threads > 0) setBackend(await createWasmBackend({ threads }));
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const model = await loadModel(dir, { dtype: values.dtype as WeightDtype });
  const ms = performance.now() - t0;
  const after = process.memoryUsage().rss;
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ before, after, peak, ms, vocab: model.tokenizer.vocabSize }));
  process.exit(0);
}

/** A GPT-2 124M folder (config, tokenizer files, one f32 model.safetensors), written once. */
function gpt2Folder(): { dir: string; bytes: number } {
  const dir = join(ROOT, 'bench/.cache/gpt2-124m-random');
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const [vocab, ctx, dim, layers] = [50257, 1024, 768, 12];
    const t: TensorToWrite[] = [];
    const add = (name: string, shape: number[], scale: number) =>
      t.push({
        name,
        shape,
        dtype: 'F32',
        data: rand(
          shape.reduce((a, b) => a * b, 1),
          scale,
        ),
      });
    add('wte.weight', [vocab, dim], 0.1);
    add('wpe.weight', [ctx, dim], 0.01);
    for (let l = 0; l < layers; l++) {
      const p = `h.${l}`;
      add(`${p}.ln_1.weight`, [dim], 1);
      add(`${p}.ln_1.bias`, [dim], 0.01);
      add(`${p}.attn.c_attn.weight`, [dim, 3 * dim], 0.02);
      add(`${p}.attn.c_attn.bias`, [3 * dim], 0.01);
      add(`${p}.attn.c_proj.weight`, [dim, dim], 0.02);
      add(`${p}.attn.c_proj.bias`, [dim], 0.01);
      add(`${p}.ln_2.weight`, [dim], 1);
      add(`${p}.ln_2.bias`, [dim], 0.01);
      add(`${p}.mlp.c_fc.weight`, [dim, 4 * dim], 0.02);
      add(`${p}.mlp.c_fc.bias`, [4 * dim], 0.01);
      add(`${p}.mlp.c_proj.weight`, [4 * dim, dim], 0.02);
      add(`${p}.mlp.c_proj.bias`, [dim], 0.01);
    }
    add('ln_f.weight', [dim], 1);
    add('ln_f.bias', [dim], 0.01);
    const config = {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: vocab,
      n_positions: ctx,
      n_embd: dim,
      n_layer: layers,
      n_head: 12,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
      tie_word_embeddings: true,
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    const tok = join(ROOT, '../shared/tokenizers/gpt2');
    writeFileSync(join(dir, 'vocab.json'), readFileSync(join(tok, 'encoder.json')));
    writeFileSync(join(dir, 'merges.txt'), readFileSync(join(tok, 'vocab.bpe')));
    writeFileSync(file, writeSafetensors(t));
  }
  return { dir, bytes: statSync(file).size };
}

if (values.child) await child(values.child);
else {
  const { dir, bytes } = gpt2Folder();
  const threadList = values.threads ? [Number(values.threads)] : [0, 1, 2];
  const rows = threadList.map((threads) => {
    const r = spawnSync(
      process.execPath,
      [
        ...LOADER,
        fileURLToPath(import.meta.url),
        '--child',
        dir,
        '--threads',
        String(threads),
        '--dtype',
        values.dtype!,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    if (r.status !== 0) throw new Error(`the child failed (status ${r.status})`);
    const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      before: number;
      after: number;
      peak: number;
      ms: number;
    };
    const row = {
      kernels: threads === 0 ? 'reference' : `wasm, ${threads} thread(s)`,
      dtype: values.dtype,
      weightsMiB: bytes / 2 ** 20,
      beforeMiB: m.before / 2 ** 20,
      afterMiB: m.after / 2 ** 20,
      peakMiB: m.peak / 2 ** 20,
      peakOverWeights: m.peak / bytes,
      loadOverWeights: (m.peak - m.before) / bytes,
      loadMs: m.ms,
    };
    console.log(
      `${row.kernels}, ${row.dtype}: weights ${row.weightsMiB.toFixed(0)} MiB; RSS before ${row.beforeMiB.toFixed(0)} MiB, ` +
        `peak ${row.peakMiB.toFixed(0)} MiB = ${row.peakOverWeights.toFixed(2)}x the weights ` +
        `(the load itself: ${row.loadOverWeights.toFixed(2)}x), after ${row.afterMiB.toFixed(0)} MiB; ${row.loadMs.toFixed(0)} ms`,
    );
    return row;
  });
  const out = join(ROOT, 'bench/results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `load-memory-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { rows, node: process.version, cpu: cpus()[0]?.model, date: new Date().toISOString() },
      null,
      2,
    ),
  );
  console.log(`wrote ${file}`);
}
