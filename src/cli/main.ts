// The glasslm command: every command (program.ts), run with one-line errors (run.ts).
import { createProgram } from './program.js';
import { runCli } from './run.js';

await runCli(await createProgram());
