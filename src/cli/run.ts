// Runs a commander program and turns a GlassError into one line on stderr and a non-zero exit.
import type { Command } from 'commander';
import { isGlassError } from '../util/errors.js';

export function reportError(e: unknown): never {
  if (isGlassError(e)) {
    process.stderr.write(`glasslm: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}

export async function runCli(program: Command, argv: string[] = process.argv): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    reportError(e);
  }
}
