// A controlled busy neighbour for the benchmarks (--busy-neighbour): a child process that spins on one
// core for as long as the run lasts, so that "a shared machine" is the same load every time rather than
// whatever else happens to be running. It starts in a session of its own (detached), as another program
// would be — Linux's autogroup scheduler shares CPU between sessions first, so a child left in ours would
// only compete with our own threads. It is killed when this process exits, and it exits by itself once
// its parent is gone (checked between bursts of spinning), so a killed benchmark leaves nothing behind.
import { spawn } from 'node:child_process';

const LOOP =
  'const p = process.ppid; for (;;) { for (let i = 0; i < 3e7; i++); if (process.ppid !== p) process.exit(); }';

/** Starts the busy-loop child (one core) and returns a function that stops it. */
export function startBusyNeighbour(): () => void {
  const child = spawn(process.execPath, ['-e', LOOP], { stdio: 'ignore', detached: true });
  const stop = () => {
    if (child.exitCode === null && !child.killed) child.kill('SIGKILL');
  };
  process.on('exit', stop);
  return stop;
}
