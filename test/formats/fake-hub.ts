// A tiny stand-in for huggingface.co on 127.0.0.1, for the hub tests: the model-info API, resolve/ with the
// headers huggingface_hub relies on (ETag, X-Linked-Etag, X-Linked-Size, X-Repo-Commit), LFS files served by
// a second "CDN" server on another port (so another origin) through a 302, Range requests, and switches to
// cut a response half way, corrupt a file, ignore Range, hide the API or demand a token.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeSafetensors } from '../../src/formats/safetensors.js';

export interface FakeFile {
  path: string;
  content: Uint8Array;
  /** Stored in LFS: etag = sha256, served from the CDN through a redirect. */
  lfs: boolean;
}

export interface FakeRepo {
  id: string;
  commit: string;
  files: FakeFile[];
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  range?: string;
  authorization?: string;
  status: number;
}

export function gitBlobSha1(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

export function etagOf(f: FakeFile): string {
  return f.lfs ? sha256(f.content) : gitBlobSha1(f.content);
}

const text = (s: string) => new TextEncoder().encode(s);
const fakeCommit = (seed: string) => createHash('sha1').update(seed).digest('hex');

export function tinyRepo(): FakeRepo {
  const n = 40_000; // 160 kB of F32: several network chunks
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 0.02;
  const weights = writeSafetensors([
    { name: 'wte.weight', dtype: 'F32', shape: [n / 8, 8], data },
    { name: 'ln_f.bias', dtype: 'F16', shape: [8], data: new Float32Array(8).fill(0.5) },
  ]);
  return {
    id: 'test-org/tiny',
    commit: fakeCommit('tiny'),
    files: [
      { path: '.gitattributes', content: text('*.safetensors filter=lfs\n'), lfs: false },
      { path: 'README.md', content: text('# tiny\n'), lfs: false },
      {
        path: 'config.json',
        content: text(
          JSON.stringify({
            model_type: 'gpt2',
            vocab_size: 16,
            n_positions: 32,
            n_embd: 8,
            n_layer: 1,
            n_head: 2,
          }),
        ),
        lfs: false,
      },
      {
        path: 'tokenizer.json',
        content: text(JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] } })),
        lfs: false,
      },
      { path: 'vocab.json', content: text('{"a": 0}'), lfs: false },
      { path: 'merges.txt', content: text('#version: 0.2\n'), lfs: false },
      { path: 'model.safetensors', content: weights, lfs: true },
      { path: 'pytorch_model.bin', content: text('not downloaded'), lfs: true },
    ],
  };
}

/** Weights in two shards under weights/ (nested paths), no tokenizer at all. */
export function shardedRepo(): FakeRepo {
  const s1 = writeSafetensors([
    { name: 'a', dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) },
  ]);
  const s2 = writeSafetensors([{ name: 'b', dtype: 'BF16', shape: [2], data: new Float32Array([5, 6]) }]);
  const index = {
    metadata: { total_size: 20 },
    weight_map: {
      a: 'weights/model-00001-of-00002.safetensors',
      b: 'weights/model-00002-of-00002.safetensors',
    },
  };
  return {
    id: 'test-org/sharded',
    commit: fakeCommit('sharded'),
    files: [
      { path: 'config.json', content: text(JSON.stringify({ model_type: 'gpt2' })), lfs: false },
      { path: 'model.safetensors.index.json', content: text(JSON.stringify(index)), lfs: false },
      { path: 'weights/model-00001-of-00002.safetensors', content: s1, lfs: true },
      { path: 'weights/model-00002-of-00002.safetensors', content: s2, lfs: true },
    ],
  };
}

export function ptOnlyRepo(): FakeRepo {
  return {
    id: 'test-org/pt-only',
    commit: fakeCommit('pt-only'),
    files: [
      { path: 'config.json', content: text('{"model_type": "gpt2"}'), lfs: false },
      { path: 'pytorch_model.bin', content: text('pickle'), lfs: true },
    ],
  };
}

export interface FakeHubOptions {
  /** The model-info API answers 404 (a bare mirror): clients must probe with HEAD. */
  noApi?: boolean;
  /** The next GET of these files sends half the bytes and drops the connection. */
  cutOnce?: Set<string>;
  /** These files are served with one byte flipped (headers still describe the good file). */
  corrupt?: Set<string>;
  /** The CDN ignores Range headers and always sends the whole file. */
  ignoreRange?: boolean;
  /** Every hub request needs `Authorization: Bearer <token>` (401 otherwise). */
  requireToken?: string;
  /**
   * These files are served with no size header at all (HEAD and GET) and every GET ends cleanly half way
   * (a body delimited by the connection's close): the client cannot tell from the transfer it is short.
   */
  silentCut?: Set<string>;
  /** The X-Repo-Commit header sent instead of the repo's commit. */
  repoCommit?: string;
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  readonly options: FakeHubOptions = {};
  private hub?: http.Server;
  private cdn?: http.Server;
  private repos = new Map<string, FakeRepo>();
  endpoint = '';
  cdnBase = '';

  constructor(repos: FakeRepo[]) {
    for (const r of repos) this.repos.set(r.id, r);
  }

  async start(): Promise<string> {
    this.hub = http.createServer((req, res) => this.serveHub(req, res));
    this.cdn = http.createServer((req, res) => this.serveCdn(req, res));
    const listen = (s: http.Server) =>
      new Promise<number>((ok) => s.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port)));
    this.endpoint = `http://127.0.0.1:${await listen(this.hub)}`;
    this.cdnBase = `http://127.0.0.1:${await listen(this.cdn)}`;
    return this.endpoint;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
  }

  private log(server: 'hub' | 'cdn', req: http.IncomingMessage, status: number) {
    this.requests.push({
      server,
      method: req.method ?? '',
      url: req.url ?? '',
      range: req.headers.range,
      authorization: req.headers.authorization,
      status,
    });
  }

  private reply(
    server: 'hub' | 'cdn',
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    headers: Record<string, string | number> = {},
    body?: Uint8Array | string,
  ) {
    this.log(server, req, status);
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private serveHub(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? '/', this.endpoint);
    const path = decodeURIComponent(url.pathname);
    if (this.options.requireToken && req.headers.authorization !== `Bearer ${this.options.requireToken}`) {
      return this.reply('hub', req, res, 401, {
        'X-Error-Message': 'Invalid credentials in Authorization header',
      });
    }
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    if (m) {
      if (this.options.noApi) return this.reply('hub', req, res, 404, {}, 'Not Found');
      const repo = this.repos.get(m[1]);
      if (!repo)
        return this.reply(
          'hub',
          req,
          res,
          404,
          { 'X-Error-Code': 'RepoNotFound' },
          '{"error":"Repository not found"}',
        );
      if (m[2] !== 'main' && m[2] !== repo.commit) {
        return this.reply(
          'hub',
          req,
          res,
          404,
          { 'X-Error-Code': 'RevisionNotFound' },
          '{"error":"Invalid rev id"}',
        );
      }
      const body = JSON.stringify({
        id: repo.id,
        sha: repo.commit,
        siblings: repo.files.map((f) => ({ rfilename: f.path })),
      });
      return this.reply('hub', req, res, 200, { 'Content-Type': 'application/json' }, body);
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(decodeURIComponent(m[1]));
      if (!repo) return this.reply('hub', req, res, 404, { 'X-Error-Code': 'RepoNotFound' });
      const rev = decodeURIComponent(m[2]);
      if (rev !== 'main' && rev !== repo.commit)
        return this.reply('hub', req, res, 404, { 'X-Error-Code': 'RevisionNotFound' });
      const file = repo.files.find((f) => f.path === decodeURIComponent(m![3]));
      if (!file)
        return this.reply('hub', req, res, 404, {
          'X-Error-Code': 'EntryNotFound',
          'X-Repo-Commit': repo.commit,
        });
      if (file.lfs) {
        return this.reply('hub', req, res, 302, {
          Location: `${this.cdnBase}/cdn/${sha256(file.content)}`,
          ETag: `"${gitBlobSha1(text('pointer'))}"`,
          'X-Linked-Etag': `"${sha256(file.content)}"`,
          'X-Linked-Size': file.content.length,
          'X-Repo-Commit': this.options.repoCommit ?? repo.commit,
          'Content-Length': 0,
        });
      }
      return this.serveBytes('hub', req, res, file, {
        ETag: `W/"${gitBlobSha1(file.content)}"`,
        'X-Repo-Commit': this.options.repoCommit ?? repo.commit,
      });
    }
    this.reply('hub', req, res, 404, {}, 'no route');
  }

  private serveCdn(req: http.IncomingMessage, res: http.ServerResponse) {
    const m = /^\/cdn\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const file = m
      ? [...this.repos.values()].flatMap((r) => r.files).find((f) => f.lfs && sha256(f.content) === m[1])
      : undefined;
    if (!file) return this.reply('cdn', req, res, 404, {}, 'no such object');
    this.serveBytes('cdn', req, res, file, { ETag: `"${sha256(file.content)}"` });
  }

  private serveBytes(
    server: 'hub' | 'cdn',
    req: http.IncomingMessage,
    res: http.ServerResponse,
    file: FakeFile,
    headers: Record<string, string>,
  ) {
    let content = file.content;
    if (this.options.corrupt?.has(file.path)) {
      content = content.slice();
      content[content.length >> 1] ^= 0xff;
    }
    const size = content.length;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    let status = 200;
    const h: Record<string, string | number> = { ...headers, 'Accept-Ranges': 'bytes' };
    if (range && !this.options.ignoreRange && req.method === 'GET') {
      start = Number(range[1]);
      if (start >= size) return this.reply(server, req, res, 416, { 'Content-Range': `bytes */${size}` });
      status = 206;
      h['Content-Range'] = `bytes ${start}-${size - 1}/${size}`;
    }
    const body = content.subarray(start);
    if (this.options.silentCut?.has(file.path)) {
      this.log(server, req, 200);
      const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      const half = req.method === 'GET' ? body.subarray(0, body.length >> 1) : new Uint8Array(0);
      // Written on the socket itself: no Content-Length, no chunked framing, the end is the close.
      req.socket.end(
        Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\n${head.join('')}Connection: close\r\n\r\n`), half]),
      );
      return;
    }
    h['Content-Length'] = body.length;
    if (req.method === 'GET' && this.options.cutOnce?.has(file.path)) {
      this.options.cutOnce.delete(file.path);
      this.log(server, req, status);
      res.writeHead(status, h);
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 30));
      return;
    }
    this.reply(server, req, res, status, h, body);
  }
}
