// Serving the built explorer (web/dist) as plain files: a few of them, read from disk per request,
// never outside the folder. No dependency: the explorer is one HTML file plus, at most, a few assets.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { packageRoot } from '../package-node.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The built explorer's folder (web/dist in the package), or undefined when it has not been built. */
export function defaultWebRoot(): string | undefined {
  const dir = join(packageRoot(), 'web', 'dist');
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}

export interface StaticFile {
  body: Buffer;
  type: string;
}

/** The file for a URL path under `root` ('/' → index.html); null when absent or outside root. */
export async function staticFile(root: string, urlPath: string): Promise<StaticFile | null> {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0]);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  if (path === '/' || path === '') path = '/index.html';
  const base = resolve(root);
  const full = resolve(base, '.' + normalize(path));
  if (full !== base && !full.startsWith(base + sep)) return null;
  if (!existsSync(full) || !statSync(full).isFile()) return null;
  return {
    body: await readFile(full),
    type: TYPES[extname(full).toLowerCase()] ?? 'application/octet-stream',
  };
}

/** What the server shows at / when the explorer has not been built. */
export const NOT_BUILT_PAGE = `<!doctype html><meta charset="utf-8"><title>glasslm</title>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>glasslm</h1><p>The explorer page has not been built. Run <code>npm run build:web</code> in the
glasslm folder (it writes <code>web/dist/</code>), then reload. The JSON API is up: try
<a href="/api/model">/api/model</a>.</p></body>`;
