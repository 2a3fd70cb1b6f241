// `glasslm ls`: the models in the Hugging Face cache (downloaded by glasslm or by Python).
import type { Command } from 'commander';
import { formatBytes, hubCacheDir, listCachedModels } from '../formats/hub.js';

export function register(program: Command): void {
  program
    .command('ls')
    .description(
      "list the models in the Hugging Face cache (also those downloaded by Python's huggingface_hub): " +
        'id, revision → commit, size and number of files',
    )
    .option('--json', 'print JSON instead of a table')
    .addHelpText('after', '\nThe cache is HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.')
    .action(async (opts: { json?: boolean }) => {
      const root = hubCacheDir();
      const models = await listCachedModels();
      if (opts.json) {
        process.stdout.write(JSON.stringify({ cache: root, models }, null, 2) + '\n');
        return;
      }
      if (models.length === 0) {
        process.stdout.write(
          `no models in ${root} (download one with: glasslm pull openai-community/gpt2)\n`,
        );
        return;
      }
      const rows: string[][] = [['MODEL', 'REVISION', 'SIZE', 'FILES']];
      for (const m of models) {
        if (m.revisions.length === 0) rows.push([m.id, '(no snapshot)', '-', '0']);
        for (const r of m.revisions) {
          const rev = `${r.refs.length > 0 ? r.refs.join(', ') : '(no ref)'} → ${r.commit}`;
          rows.push([m.id, rev, formatBytes(r.bytes), String(r.files.length)]);
        }
      }
      const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
      for (const row of rows) {
        const cells = row.map((cell, c) =>
          c === 2 || c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]),
        );
        process.stdout.write(cells.join('  ').trimEnd() + '\n');
      }
      process.stdout.write(`cache: ${root}\n`);
    });
}
