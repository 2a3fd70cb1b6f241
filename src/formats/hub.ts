// Hugging Face hub: download a model into the same cache that Python's huggingface_hub uses, so either
// tool reuses what the other fetched. Node-only (fs, fetch).
//
// Cache layout (under HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub):
//   models--<org>--<name>/
//     blobs/<etag>                       file contents; etag = sha256 (LFS files) or git blob sha1
//     blobs/<etag>.incomplete            a download in progress (resumed with a Range request)
//     refs/<revision>                    the commit hash a branch/tag pointed to when last fetched
//     snapshots/<commit>/<file>          relative symlink → ../../blobs/<etag>
//     .no_exist/<commit>/<file>          empty marker: the file does not exist at that commit
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomic-node.js';
import { GlassError, type GlassErrorCode } from '../util/errors.js';
import { acquireLock, waitMessage } from '../util/lock.js';
import { maskSecrets } from '../util/mask.js';
import { isSafeRelativePath } from './safetensors.js';

/** Hub messages name URLs (HF_ENDPOINT, redirects): every one goes through the credential mask. */
function hubError(code: GlassErrorCode, message: string, options?: { cause?: unknown }): GlassError {
  return new GlassError(code, maskSecrets(message), options);
}

export interface DownloadProgress {
  /** Path of the file inside the repo. */
  file: string;
  /** Bytes on disk so far (a resumed download starts above 0). */
  received: number;
  /** Expected size in bytes (0 when the server did not say). */
  total: number;
  /** True on the last call for a file: it is complete and verified. */
  done: boolean;
}

export interface ResolveOptions {
  /** Branch, tag or commit hash (default 'main'). */
  revision?: string;
  /** Called when a file download starts, for every chunk received, and when it ends. */
  onProgress?: (p: DownloadProgress) => void;
  /** Never touch the network (also on when HF_HUB_OFFLINE=1): use the cache or fail with NOT_FOUND. */
  offline?: boolean;
  /** Called once per file another process (or call) is downloading, while this one waits for it. */
  onWait?: (message: string) => void;
}

export interface CachedRevision {
  commit: string;
  /** Branches/tags (from refs/) that point at this commit, e.g. ['main']. */
  refs: string[];
  /** Files in the snapshot, as repo paths ('config.json', 'onnx/model.onnx'). */
  files: string[];
  /** Total size of the snapshot's files. */
  bytes: number;
}

export interface CachedModel {
  id: string;
  /** Absolute path of the models--org--name folder. */
  path: string;
  revisions: CachedRevision[];
}

/** Files fetched when present, besides the weights. */
export const HUB_MODEL_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'vocab.json',
  'merges.txt',
  'special_tokens_map.json',
  'tokenizer.model', // SentencePiece (Llama, T5)
  'vocab.txt', // WordPiece (BERT)
] as const;

const TOKENIZER_FILES = ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer.model', 'vocab.txt'];
const WEIGHTS = 'model.safetensors';
const WEIGHTS_INDEX = 'model.safetensors.index.json';
const OTHER_WEIGHTS = [
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
  'tf_model.h5',
  'flax_model.msgpack',
  'model.ckpt.index',
];

// ---------------------------------------------------------------------------------------------------
// Environment (read at every call, so tests and long-running processes can change it).

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

function hfHome(): string {
  const env = process.env;
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  const xdg = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(xdg, 'huggingface');
}

/** The hub cache folder: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(): string {
  const env = process.env;
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  return resolve(explicit ? expandHome(explicit) : join(hfHome(), 'hub'));
}

/** The hub URL: HF_ENDPOINT, else https://huggingface.co. */
export function hubEndpoint(): string {
  return (process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

/** HF_TOKEN (or the token file `huggingface-cli login` writes, as huggingface_hub does). */
async function hubToken(): Promise<string | undefined> {
  const env = process.env;
  const fromEnv = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv) return fromEnv.trim();
  try {
    const t = (
      await readFile(env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : join(hfHome(), 'token'), 'utf8')
    ).trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

function offlineByEnv(): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((process.env.HF_HUB_OFFLINE ?? '').toUpperCase());
}

/** `org/name` → `models--org--name`, as huggingface_hub names the folder. */
export function repoFolderName(id: string): string {
  return ['models', ...id.split('/')].join('--');
}

function isCommitHash(rev: string): boolean {
  return /^[0-9a-f]{40}$/.test(rev);
}

// ---------------------------------------------------------------------------------------------------
// resolveModel

/**
 * Turns a model folder or a hub id into a local folder. An existing directory is returned as is. A hub id
 * (`org/name` or `name`) is looked up in the cache first (a snapshot written by Python's huggingface_hub
 * counts) and downloaded when the cache lacks config.json, the safetensors weights or a tokenizer.
 * Returns the snapshot folder `…/models--org--name/snapshots/<commit>`.
 */
export async function resolveModel(idOrPath: string, opts: ResolveOptions = {}): Promise<string> {
  const local = await localFolder(idOrPath);
  if (local !== undefined) return local;
  const repo = parseRepoId(idOrPath);
  const revision = opts.revision ?? 'main';
  if (revision === '' || revision.startsWith('/') || !isSafeRelativePath(revision)) {
    throw hubError(
      'BAD_INPUT',
      `revision "${revision}" is not valid (expected a branch, tag or commit hash)`,
    );
  }
  const storage = join(hubCacheDir(), repoFolderName(repo));
  const cached = await cachedSnapshot(storage, revision);
  if (cached !== undefined) return cached;
  if (opts.offline || offlineByEnv()) {
    throw hubError(
      'NOT_FOUND',
      `${repo}@${revision}: not in the cache at ${storage} (offline mode: expected config.json, safetensors weights and a tokenizer there)`,
    );
  }
  const hub = new Hub(repo, storage, hubEndpoint(), await hubToken(), opts.onProgress, opts.onWait);
  return hub.download(revision);
}

async function localFolder(p: string): Promise<string | undefined> {
  let s;
  try {
    s = await stat(p);
  } catch {
    s = undefined;
  }
  if (s?.isDirectory()) return p;
  if (s) {
    throw hubError(
      'BAD_INPUT',
      `${p}: is a file (expected a model folder holding config.json, or a hub id such as openai-community/gpt2)`,
    );
  }
  const pathLike =
    p.startsWith('.') || p.startsWith('~') || isAbsolute(p) || p.includes('\\') || p.split('/').length > 2;
  if (pathLike) throw hubError('NOT_FOUND', `${p}: no such folder (expected a model folder or a hub id)`);
  return undefined;
}

function parseRepoId(id: string): string {
  const parts = id.split('/');
  const ok =
    parts.length <= 2 &&
    id.length <= 96 &&
    parts.every(
      (s) =>
        /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/.test(s) && !s.includes('--') && !s.includes('..'),
    );
  if (!ok) {
    throw hubError(
      'BAD_INPUT',
      `"${id}" is neither an existing folder nor a valid hub id (expected org/name, e.g. openai-community/gpt2)`,
    );
  }
  return id;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile(); // follows symlinks: a dangling link does not count
  } catch {
    return false;
  }
}

async function readRef(storage: string, revision: string): Promise<string | undefined> {
  try {
    const commit = (await readFile(join(storage, 'refs', revision), 'utf8')).trim();
    return isCommitHash(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** The snapshot folder when the cache already holds everything a model needs, else undefined. */
async function cachedSnapshot(storage: string, revision: string): Promise<string | undefined> {
  const commit = isCommitHash(revision) ? revision : await readRef(storage, revision);
  if (commit === undefined) return undefined;
  const snap = join(storage, 'snapshots', commit);
  const has = (f: string) => isFile(join(snap, ...f.split('/')));
  const absent = (f: string) => isFile(join(storage, '.no_exist', commit, ...f.split('/')));
  if (!(await has('config.json'))) return undefined;
  if (!(await has(WEIGHTS))) {
    if (!(await has(WEIGHTS_INDEX))) return undefined;
    let shards: string[];
    try {
      shards = indexShards(JSON.parse(await readFile(join(snap, WEIGHTS_INDEX), 'utf8')), WEIGHTS_INDEX);
    } catch {
      return undefined;
    }
    for (const s of shards) if (!(await has(s))) return undefined;
  }
  const tokenizerOk =
    (await has('tokenizer.json')) ||
    ((await has('vocab.json')) && (await has('merges.txt'))) ||
    (await has('tokenizer.model')) ||
    (await has('vocab.txt'));
  if (!tokenizerOk) {
    // A repo without a tokenizer is complete once every tokenizer file is known to be absent.
    for (const f of TOKENIZER_FILES) if (!(await has(f)) && !(await absent(f))) return undefined;
  }
  return snap;
}

/** The shard files a model.safetensors.index.json names, in order of first appearance. */
function indexShards(json: unknown, name: string): string[] {
  const map =
    typeof json === 'object' && json !== null ? (json as Record<string, unknown>).weight_map : undefined;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw hubError(
      'BAD_FILE',
      `${name}: field "weight_map" is missing (expected an object: tensor name → shard file)`,
    );
  }
  const shards = new Set<string>();
  for (const [tensor, file] of Object.entries(map)) {
    if (typeof file !== 'string' || !isSafeRelativePath(file)) {
      throw hubError(
        'BAD_FILE',
        `${name}: tensor "${tensor}" maps to ${JSON.stringify(file)} (expected a shard file name inside the repo)`,
      );
    }
    shards.add(file);
  }
  return [...shards];
}

// ---------------------------------------------------------------------------------------------------
// Downloading

interface FileMeta {
  /** Normalised etag: sha256 (LFS) or git blob sha1. */
  etag: string;
  commit: string | undefined;
  size: number | undefined;
  /** Where to GET the content (the CDN after an LFS redirect). */
  location: string;
}

type HeadResult = { found: true; meta: FileMeta } | { found: false; status: number };

function normalizeEtag(e: string): string {
  return e.replace(/^W\//, '').replace(/^"+|"+$/g, '');
}

function causeText(e: unknown): string {
  const c = (e as { cause?: { code?: string; message?: string } }).cause;
  return c?.message || c?.code || (e as Error).message || String(e);
}

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

class Hub {
  private readonly origin: string;

  constructor(
    readonly repo: string,
    readonly storage: string,
    readonly endpoint: string,
    readonly token: string | undefined,
    readonly onProgress: ((p: DownloadProgress) => void) | undefined,
    readonly onWait?: (message: string) => void,
  ) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw hubError(
        'BAD_INPUT',
        `HF_ENDPOINT "${endpoint}" is not a URL (expected e.g. https://huggingface.co)`,
      );
    }
    if (url.username || url.password) {
      throw hubError(
        'BAD_INPUT',
        `HF_ENDPOINT ${endpoint}: a user name or password in the URL is not supported ` +
          `(fetch refuses credentials in URLs); give the URL without them and the token in HF_TOKEN`,
      );
    }
    this.origin = url.origin;
  }

  private headers(url: string, extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { 'User-Agent': 'glasslm/0.1.0', ...extra };
    // The token goes to the hub only, never to the CDN an LFS file redirects to.
    if (this.token && new URL(url).origin === this.origin) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  private async fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (e) {
      throw hubError('NETWORK', `cannot reach ${url}: ${causeText(e)}`, { cause: e });
    }
  }

  /** A GlassError for a failed response; `what` says what was being fetched. */
  private httpError(res: Response, url: string, what: string): GlassError {
    const code = res.headers.get('x-error-code') ?? '';
    const detail = res.headers.get('x-error-message');
    const more = detail ? ` (${detail})` : '';
    if (code === 'RepoNotFound') {
      return hubError(
        'NOT_FOUND',
        `${this.repo}: no such model on ${this.endpoint} (HTTP ${res.status} from ${url})${more}; if it is private or gated, set HF_TOKEN to an access token that can read it`,
      );
    }
    if (res.status === 401 || res.status === 403) {
      const tokenHint = this.token
        ? 'the token in HF_TOKEN was refused: check that it can read this repo (and that you accepted its license if it is gated)'
        : 'if the repo is private or gated, set HF_TOKEN to a Hugging Face access token that can read it';
      return hubError(
        'NETWORK',
        `${what}: access denied (HTTP ${res.status} from ${url})${more}; ${tokenHint}`,
      );
    }
    if (res.status === 404 || code === 'RevisionNotFound' || code === 'EntryNotFound') {
      const kind = code === 'RevisionNotFound' ? 'no such revision' : 'not found';
      return hubError('NOT_FOUND', `${what}: ${kind} (HTTP ${res.status} from ${url})${more}`);
    }
    return hubError('NETWORK', `${what}: HTTP ${res.status} ${res.statusText} from ${url}${more}`);
  }

  private resolveUrl(revision: string, file: string): string {
    return `${this.endpoint}/${this.repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** GET /api/models/{repo}/revision/{rev}: commit and file list, or undefined when the API is unavailable. */
  private async repoInfo(revision: string): Promise<{ sha: string; files: Set<string> } | undefined> {
    const url = `${this.endpoint}/api/models/${this.repo}/revision/${encodeURIComponent(revision)}`;
    const res = await this.fetch(url, { headers: this.headers(url, { Accept: 'application/json' }) });
    if (!res.ok) {
      await res.body?.cancel();
      const code = res.headers.get('x-error-code');
      if (
        res.status === 401 ||
        res.status === 403 ||
        code === 'RepoNotFound' ||
        code === 'RevisionNotFound'
      ) {
        throw this.httpError(res, url, code === 'RevisionNotFound' ? `${this.repo}@${revision}` : this.repo);
      }
      return undefined; // a mirror without the API: probe the files one by one instead
    }
    let info: unknown;
    try {
      info = await res.json();
    } catch {
      return undefined;
    }
    const { sha, siblings } = (info ?? {}) as { sha?: unknown; siblings?: unknown };
    if (typeof sha !== 'string' || !isCommitHash(sha) || !Array.isArray(siblings)) return undefined;
    const files = new Set<string>();
    for (const s of siblings) {
      const f = (s as { rfilename?: unknown } | null)?.rfilename;
      if (typeof f === 'string') files.add(f);
    }
    return { sha, files };
  }

  /** HEAD on resolve/{rev}/{file}: follows relative redirects only, as huggingface_hub does. */
  private async head(revision: string, file: string): Promise<HeadResult> {
    let url = this.resolveUrl(revision, file);
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.fetch(url, {
        method: 'HEAD',
        redirect: 'manual',
        headers: this.headers(url, { 'Accept-Encoding': 'identity' }),
      });
      let location = url;
      if (res.status >= 300 && res.status < 400) {
        const loc = res.headers.get('location');
        if (!loc)
          throw hubError(
            'NETWORK',
            `${this.repo}/${file}: HTTP ${res.status} without a Location from ${url}`,
          );
        const relativeLoc = !/^[a-z][a-z0-9+.-]*:/i.test(loc) && !loc.startsWith('//');
        if (relativeLoc) {
          url = new URL(loc, url).href;
          continue;
        }
        location = new URL(loc, url).href; // LFS: the metadata is on the redirect, the bytes on the CDN
      } else if (!res.ok) {
        if (res.status === 404 && res.headers.get('x-error-code') !== 'RepoNotFound') {
          if (res.headers.get('x-error-code') === 'RevisionNotFound') {
            throw this.httpError(res, url, `${this.repo}@${revision}`);
          }
          return { found: false, status: 404 };
        }
        throw this.httpError(res, url, `${this.repo}/${file}`);
      }
      const etag = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
      if (!etag) {
        throw hubError(
          'NETWORK',
          `${this.repo}/${file}: ${url} sent no ETag (expected a Hugging Face hub; check HF_ENDPOINT)`,
        );
      }
      const sizeHeader =
        res.headers.get('x-linked-size') ?? (res.status < 300 ? res.headers.get('content-length') : null);
      const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
      const commit = res.headers.get('x-repo-commit') ?? undefined;
      return { found: true, meta: { etag: normalizeEtag(etag), commit, size, location } };
    }
    throw hubError(
      'NETWORK',
      `${this.repo}/${file}: too many redirects from ${this.resolveUrl(revision, file)}`,
    );
  }

  private snapshotDir(commit: string): string {
    return join(this.storage, 'snapshots', commit);
  }

  async download(revision: string): Promise<string> {
    const info = await this.repoInfo(revision);
    let commit: string;
    const known = new Map<string, FileMeta>(); // metadata already fetched while probing
    let present: (file: string) => Promise<boolean>;
    if (info) {
      commit = info.sha;
      present = async (f) => info.files.has(f);
    } else {
      const cfg = await this.head(revision, 'config.json');
      if (!cfg.found) {
        throw hubError(
          'NOT_FOUND',
          `${this.repo}: no such model on ${this.endpoint} at revision "${revision}" (no config.json at ${this.resolveUrl(revision, 'config.json')})`,
        );
      }
      if (!cfg.meta.commit) {
        throw hubError(
          'NETWORK',
          `${this.repo}/config.json: the server sent no X-Repo-Commit header (expected a Hugging Face hub; check HF_ENDPOINT)`,
        );
      }
      if (!isCommitHash(cfg.meta.commit)) {
        throw hubError(
          'NETWORK',
          `${this.repo}/config.json: the server sent an invalid X-Repo-Commit ${JSON.stringify(cfg.meta.commit.slice(0, 80))} ` +
            `(expected a 40-digit hex commit hash; check HF_ENDPOINT)`,
        );
      }
      commit = cfg.meta.commit;
      known.set('config.json', cfg.meta);
      present = async (f) => {
        if (known.has(f)) return true;
        const r = await this.head(commit, f);
        if (r.found) known.set(f, r.meta);
        return r.found;
      };
    }
    if (revision !== commit) await this.writeRef(revision, commit);

    const where = `${this.repo}@${revision}`;
    if (!(await present('config.json'))) {
      throw hubError('NOT_FOUND', `${where}: the repo has no config.json (expected a transformers model)`);
    }
    // Weights first: fail early, before fetching small files, when there are none we can read.
    let weightFiles: string[];
    if (await present(WEIGHTS)) {
      weightFiles = [WEIGHTS];
    } else if (await present(WEIGHTS_INDEX)) {
      await this.fetchFile(commit, WEIGHTS_INDEX, known.get(WEIGHTS_INDEX));
      const indexPath = join(this.snapshotDir(commit), WEIGHTS_INDEX);
      let json: unknown;
      try {
        json = JSON.parse(await readFile(indexPath, 'utf8'));
      } catch (e) {
        throw hubError(
          'BAD_FILE',
          `${indexPath}: not valid JSON (${(e as Error).message}); expected an object with "weight_map"`,
        );
      }
      weightFiles = indexShards(json, `${this.repo}/${WEIGHTS_INDEX}`);
      if (info) {
        for (const s of weightFiles) {
          if (!info.files.has(s)) {
            throw hubError(
              'NOT_FOUND',
              `${this.repo}/${WEIGHTS_INDEX}: names shard "${s}", which the repo does not have`,
            );
          }
        }
      }
    } else {
      for (const other of OTHER_WEIGHTS) {
        if (await present(other)) {
          throw hubError(
            'UNSUPPORTED',
            `${where}: has weights only as ${other}; glasslm needs safetensors (${WEIGHTS} or ${WEIGHTS_INDEX}). Convert it, or pick a repo that ships safetensors`,
          );
        }
      }
      throw hubError(
        'NOT_FOUND',
        `${where}: no model weights found (expected ${WEIGHTS} or ${WEIGHTS_INDEX})`,
      );
    }

    const missing: string[] = [];
    for (const f of HUB_MODEL_FILES) {
      if (await present(f)) await this.fetchFile(commit, f, known.get(f));
      else missing.push(f);
    }
    for (const f of weightFiles) await this.fetchFile(commit, f, known.get(f));
    for (const f of missing) await this.markAbsent(commit, f);
    return this.snapshotDir(commit);
  }

  private async writeRef(revision: string, commit: string): Promise<void> {
    const ref = join(this.storage, 'refs', ...revision.split('/'));
    await mkdir(dirname(ref), { recursive: true });
    await writeFileAtomic(ref, commit);
  }

  private async markAbsent(commit: string, file: string): Promise<void> {
    const p = join(this.storage, '.no_exist', commit, ...file.split('/'));
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, '');
  }

  /** Makes snapshots/<commit>/<file> exist: reuses a blob with the same etag, else downloads it. */
  private async fetchFile(commit: string, file: string, meta?: FileMeta): Promise<void> {
    if (!isSafeRelativePath(file)) {
      throw hubError('BAD_FILE', `${this.repo}: file name "${file}" would leave the snapshot folder`);
    }
    const pointer = join(this.snapshotDir(commit), ...file.split('/'));
    if (await isFile(pointer)) return;
    if (!meta) {
      const r = await this.head(commit, file);
      if (!r.found) throw hubError('NOT_FOUND', `${this.repo}/${file}: not found at commit ${commit}`);
      meta = r.meta;
    }
    if (!/^[A-Za-z0-9._-]+$/.test(meta.etag) || meta.etag.startsWith('.')) {
      throw hubError('NETWORK', `${this.repo}/${file}: the server sent an unusable ETag "${meta.etag}"`);
    }
    if (!isSha256(meta.etag) && !isGitSha1(meta.etag)) {
      throw hubError(
        'NETWORK',
        `${this.repo}/${file}: the server's ETag "${meta.etag}" is neither a sha256 (LFS) nor a git blob ` +
          `sha1, so the download could not be verified (expected a Hugging Face hub; check HF_ENDPOINT)`,
      );
    }
    const blob = join(this.storage, 'blobs', meta.etag);
    if (!(await isFile(blob))) {
      // One download per blob: another pull of the same file (another process, or another call in this
      // one) is waited for, and its finished blob reused.
      const lockPath = join(
        dirname(this.storage),
        '.locks',
        basename(this.storage),
        `${meta.etag}.glasslm-lock`,
      );
      const lock = await acquireLock(lockPath, {
        purpose: `glasslm pull ${this.repo}`,
        onWait: (holder, path) =>
          this.onWait?.(`${waitMessage(holder, path)}; waiting for its download of ${file}…`),
      });
      try {
        if (!(await isFile(blob))) await this.downloadBlob(file, meta, blob);
      } finally {
        await lock.release();
      }
    }
    await linkPointer(blob, pointer);
  }

  private async downloadBlob(file: string, meta: FileMeta, blob: string): Promise<void> {
    const what = `${this.repo}/${file}`;
    const tmp = `${blob}.incomplete`;
    await mkdir(dirname(blob), { recursive: true });
    const lfs = isSha256(meta.etag);
    const expected = meta.size;

    let have = await stat(tmp).then(
      (st) => st.size,
      () => 0,
    );
    if (expected !== undefined && have > expected) {
      await rm(tmp, { force: true });
      have = 0;
    }
    let hash: Hash | undefined = lfs ? createHash('sha256') : undefined;
    if (hash && have > 0) await hashFile(tmp, hash);

    const report = (received: number, total: number) =>
      this.onProgress?.({ file, received, total, done: false });

    if (expected === undefined || have < expected) {
      let res: Response | undefined;
      for (let attempt = 0; attempt < 2 && !res; attempt++) {
        const extra: Record<string, string> = { 'Accept-Encoding': 'identity' };
        if (have > 0) extra.Range = `bytes=${have}-`;
        const r = await this.fetch(meta.location, { headers: this.headers(meta.location, extra) });
        const rangeStart = /^bytes (\d+)-/.exec(r.headers.get('content-range') ?? '')?.[1];
        if (have > 0 && (r.status === 416 || (r.status === 206 && Number(rangeStart) !== have))) {
          // The server will not continue from here: start over.
          await r.body?.cancel();
          await rm(tmp, { force: true });
          have = 0;
          hash = lfs ? createHash('sha256') : undefined;
          continue;
        }
        if (!r.ok) {
          await r.body?.cancel();
          throw this.httpError(r, meta.location, what);
        }
        if (have > 0 && r.status !== 206) {
          // The server ignored the Range header and sends the whole file.
          have = 0;
          hash = lfs ? createHash('sha256') : undefined;
        }
        res = r;
      }
      if (!res)
        throw hubError('NETWORK', `${what}: ${meta.location} refused to resume or restart the download`);
      const contentLength = Number(res.headers.get('content-length') ?? NaN);
      const total = expected ?? (Number.isFinite(contentLength) ? have + contentLength : 0);
      const fh = await open(tmp, have > 0 ? 'a' : 'w');
      let received = have;
      report(received, total);
      try {
        if (res.body) {
          const reader = res.body.getReader();
          for (;;) {
            let chunk: ReadableStreamReadResult<Uint8Array>;
            try {
              chunk = await reader.read();
            } catch (e) {
              throw hubError(
                'NETWORK',
                `${what}: download interrupted after ${humanBytes(received)} of ${total ? humanBytes(total) : '?'} (${causeText(e)}); run again to resume`,
                { cause: e },
              );
            }
            if (chunk.done) break;
            await fh.write(chunk.value);
            hash?.update(chunk.value);
            received += chunk.value.length;
            report(received, total);
          }
        }
      } finally {
        await fh.close();
      }
    }

    const size = (await stat(tmp)).size;
    if (expected !== undefined && size < expected) {
      throw hubError(
        'NETWORK',
        `${what}: download ended after ${humanBytes(size)} of ${humanBytes(expected)}; run again to resume`,
      );
    }
    if (expected !== undefined && size > expected) {
      await rm(tmp, { force: true });
      throw hubError(
        'CHECKSUM',
        `${what}: downloaded ${size} bytes but the hub says the file has ${expected} (expected them to match); the bad file was deleted, run again to retry`,
      );
    }
    // Every file is checked against its ETag: LFS files by sha256 (hashed as they arrived), the others by
    // their git blob sha1 — which also catches a body cut short where the server sent no size.
    const got = hash ? hash.digest('hex') : await gitBlobSha1(tmp, size);
    if (got !== meta.etag) {
      await rm(tmp, { force: true });
      throw hubError(
        'CHECKSUM',
        `${what}: the download (${humanBytes(size)}) is incomplete or corrupt: its ${lfs ? 'sha256' : 'git blob sha1'} ` +
          `is ${got} but the hub says ${meta.etag}; the bad file was deleted, run again to retry`,
      );
    }
    await rename(tmp, blob);
    this.onProgress?.({ file, received: size, total: expected ?? size, done: true });
  }
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

function isSha256(etag: string): boolean {
  return /^[0-9a-f]{64}$/.test(etag);
}

function isGitSha1(etag: string): boolean {
  return /^[0-9a-f]{40}$/.test(etag);
}

/** The git blob id of a file: sha1 of "blob <size>\0" and the content (what the hub sends as ETag). */
async function gitBlobSha1(path: string, size: number): Promise<string> {
  const hash = createHash('sha1').update(`blob ${size}\0`);
  await hashFile(path, hash);
  return hash.digest('hex');
}

/**
 * snapshots/<commit>/<file> → relative symlink to the blob (a copy where symlinks are not allowed), made
 * beside it and renamed into place, so a concurrent pull never sees the pointer missing.
 */
async function linkPointer(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const tmp = `${pointer}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await symlink(relative(dirname(pointer), blob), tmp);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EACCES' || code === 'ENOTSUP' || code === 'ENOSYS') {
      await copyFile(blob, tmp); // e.g. Windows without developer mode, as huggingface_hub does
    } else {
      throw e;
    }
  }
  try {
    await rename(tmp, pointer);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------
// Listing the cache

async function walk(dir: string, prefix = ''): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

/** Every model in the hub cache (also those Python downloaded), with its snapshots. */
export async function listCachedModels(): Promise<CachedModel[]> {
  const root = hubCacheDir();
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const models: CachedModel[] = [];
  for (const folder of names.sort()) {
    if (!folder.startsWith('models--')) continue;
    const path = join(root, folder);
    if (!(await lstat(path)).isDirectory()) continue;
    const id = folder.slice('models--'.length).split('--').join('/');
    const refsByCommit = new Map<string, string[]>();
    for (const ref of await walk(join(path, 'refs'))) {
      if (ref.endsWith('.tmp')) continue;
      try {
        const commit = (await readFile(join(path, 'refs', ...ref.split('/')), 'utf8')).trim();
        refsByCommit.set(commit, [...(refsByCommit.get(commit) ?? []), ref]);
      } catch {
        // unreadable ref: skip
      }
    }
    const revisions: CachedRevision[] = [];
    const commits = await readdir(join(path, 'snapshots')).catch(() => [] as string[]);
    for (const commit of commits) {
      const snap = join(path, 'snapshots', commit);
      const files = (await walk(snap)).sort();
      let bytes = 0;
      for (const f of files) {
        try {
          bytes += (await stat(join(snap, ...f.split('/')))).size;
        } catch {
          // dangling link: counts as no bytes
        }
      }
      revisions.push({ commit, refs: (refsByCommit.get(commit) ?? []).sort(), files, bytes });
    }
    revisions.sort(
      (a, b) =>
        Number(b.refs.includes('main')) - Number(a.refs.includes('main')) ||
        b.refs.length - a.refs.length ||
        a.commit.localeCompare(b.commit),
    );
    models.push({ id, path, revisions });
  }
  return models.sort((a, b) => a.id.localeCompare(b.id));
}

export { humanBytes as formatBytes };
