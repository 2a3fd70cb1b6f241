// The machine a benchmark ran on, for its results file: the CPU model, its SIMD flags (the CPU changes
// between sessions: compare engines only within one run), cores, memory, Node.
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

const SIMD = /^(sse4_2|avx|avx2|fma|f16c|avx512\w*|avx_vnni|amx\w*|neon|asimd\w*|sve\w*)$/;

export function machine(): {
  cpu: string | undefined;
  simd: string[];
  cores: number;
  memGiB: number;
  node: string;
} {
  let simd: string[] = [];
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = info.split('\n').find((l) => /^(flags|Features)\s*:/.test(l)) ?? '';
    simd = [
      ...new Set(
        line
          .replace(/^[^:]*:/, '')
          .trim()
          .split(/\s+/),
      ),
    ]
      .filter((f) => SIMD.test(f))
      .sort();
  } catch {
    // not Linux: no flags to read
  }
  return {
    cpu: cpus()[0]?.model,
    simd,
    cores: cpus().length,
    memGiB: +(totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
  };
}
