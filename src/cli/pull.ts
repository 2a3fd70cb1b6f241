// `glasslm pull`: download a model from the Hugging Face hub into the shared cache and print its folder.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { formatBytes, resolveModel, type DownloadProgress } from '../formats/hub.js';

/** Draws one bar per file on a terminal; elsewhere prints one line per finished file. All on stderr. */
function progressReporter(): {
  onProgress: (p: DownloadProgress) => void;
  stop: () => void;
  count: () => number;
} {
  const stderr = process.stderr;
  // Created on the first byte, so a pull served from the cache draws nothing.
  let multi: cliProgress.MultiBar | null = null;
  const makeMulti = () =>
    new cliProgress.MultiBar(
      {
        format: '{file} [{bar}] {percentage}% | {got} / {size}',
        barsize: 20,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
        stream: stderr,
      },
      cliProgress.Presets.shades_classic,
    );
  const bars = new Map<string, cliProgress.SingleBar>();
  const done = new Set<string>();
  const seen = new Set<string>();
  const width = 24;
  const label = (file: string) => (file.length > width ? '…' + file.slice(-(width - 1)) : file.padEnd(width));
  return {
    onProgress({ file, received, total, done: finished }) {
      seen.add(file);
      const size = total || received;
      if (stderr.isTTY) {
        multi ??= makeMulti();
        let bar = bars.get(file);
        const payload = {
          file: label(file),
          got: formatBytes(received),
          size: total ? formatBytes(total) : '?',
        };
        if (!bar) {
          bar = multi.create(Math.max(size, 1), 0, payload);
          bars.set(file, bar);
        }
        bar.setTotal(Math.max(size, 1));
        bar.update(size === 0 ? 1 : received, payload);
      } else if (finished && !done.has(file)) {
        stderr.write(`downloaded ${file} (${formatBytes(received)})\n`);
      }
      if (finished) done.add(file);
    },
    stop() {
      multi?.stop();
    },
    count: () => seen.size,
  };
}

export function register(program: Command): void {
  program
    .command('pull')
    .description(
      'download a model from the Hugging Face hub (config, tokenizer, safetensors weights) into the ' +
        "cache shared with Python's huggingface_hub, and print the local folder",
    )
    .argument('<hub-id>', 'model repository, e.g. openai-community/gpt2')
    .option('-r, --revision <revision>', 'branch, tag or commit hash to download', 'main')
    .addHelpText(
      'after',
      [
        '',
        'Files already in the cache are not downloaded again; an interrupted download resumes where it stopped.',
        '',
        'Environment:',
        '  HF_TOKEN      access token for private or gated repos',
        '  HF_ENDPOINT   hub URL (default https://huggingface.co)',
        '  HF_HUB_CACHE  cache folder (default $HF_HOME/hub, i.e. ~/.cache/huggingface/hub)',
        '',
        'Example:',
        '  $ glasslm pull openai-community/gpt2',
        '  $ glasslm generate --model openai-community/gpt2 "Hello"',
      ].join('\n'),
    )
    .action(async (id: string, opts: { revision: string }) => {
      const progress = progressReporter();
      let dir: string;
      try {
        dir = await resolveModel(id, {
          revision: opts.revision,
          onProgress: progress.onProgress,
          onWait: (m) => process.stderr.write(`glasslm: ${m}\n`),
        });
      } finally {
        progress.stop();
      }
      if (progress.count() === 0) process.stderr.write(`${id}@${opts.revision}: already in the cache\n`);
      process.stdout.write(dir + '\n');
    });
}
