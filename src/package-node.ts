// The package's own folder on disk (Node): where the bundled models (models/) and the built explorer
// (web/dist) are. Used by the CLI and the server alike, so it belongs to neither.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding package.json, found upward from this file (dist/src or src alike). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
