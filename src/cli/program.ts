// The glasslm command line as a commander program, every command registered (parsing and printing only;
// each command lives in its own file). main.ts runs it; tests parse with it in-process.
import { Command } from 'commander';

export async function createProgram(): Promise<Command> {
  const program = new Command();
  program
    .name('glasslm')
    .description('A see-through transformer engine: run open models and look inside every stage.')
    .version('0.1.0')
    // Commander's own usage errors get the same one-line "glasslm: ..." form as ours.
    .configureOutput({ outputError: (str, write) => write(`glasslm: ${str.replace(/^error: /, '')}`) });

  for (const mod of [
    await import('./tokenize.js'),
    await import('./generate.js'),
    await import('./chat.js'),
    await import('./explain.js'),
    await import('./embed.js'),
    await import('./index-cmd.js'),
    await import('./search.js'),
    await import('./serve.js'),
    await import('./pull.js'),
    await import('./ls.js'),
    await import('./train.js'),
    await import('./finetune.js'),
    await import('./eval.js'),
    await import('./word2vec.js'),
  ]) {
    mod.register(program);
  }
  return program;
}
