import { test, describe, beforeEach, afterEach, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubCacheDir, listCachedModels, resolveModel } from '../../src/formats/hub.js';
import { openSafetensorsFolder } from '../../src/formats/safetensors-node.js';
import { GlassError } from '../../src/util/errors.js';
import { etagOf, FakeHub, ptOnlyRepo, shardedRepo, tinyRepo, type FakeRepo } from './fake-hub.js';

const TINY = tinyRepo();
const SHARDED = shardedRepo();
const TINY_DOWNLOADED = ['config.json', 'merges.txt', 'model.safetensors', 'tokenizer.json', 'vocab.json'];

let hub: FakeHub;
let home: string;
const savedEnv = { ...process.env };

before(async () => {
  hub = new FakeHub([TINY, SHARDED, ptOnlyRepo()]);
  await hub.start();
});
after(async () => {
  await hub.close();
});

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'glasslm-hub-'));
  for (const k of [
    'HF_HUB_CACHE',
    'HUGGINGFACE_HUB_CACHE',
    'HF_TOKEN',
    'HUGGING_FACE_HUB_TOKEN',
    'HF_TOKEN_PATH',
    'HF_HUB_OFFLINE',
  ]) {
    delete process.env[k];
  }
  process.env.HF_HOME = home;
  process.env.HF_ENDPOINT = hub.endpoint;
  hub.requests.length = 0;
  for (const k of Object.keys(hub.options) as Array<keyof typeof hub.options>) delete hub.options[k];
});
afterEach(async () => {
  process.env = { ...savedEnv };
  await rm(home, { recursive: true, force: true });
});

function storage(repo: FakeRepo): string {
  return join(home, 'hub', `models--${repo.id.replace('/', '--')}`);
}

function file(repo: FakeRepo, path: string) {
  const f = repo.files.find((x) => x.path === path);
  assert.ok(f, path);
  return f;
}

async function expectGlassError(p: Promise<unknown>, code: string, ...parts: string[]): Promise<GlassError> {
  let caught: GlassError | undefined;
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GlassError, `expected a GlassError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const part of parts)
      assert.ok(e.message.includes(part), `${JSON.stringify(e.message)} lacks ${JSON.stringify(part)}`);
    caught = e;
    return true;
  });
  return caught!;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

describe('hub download', () => {
  test('writes the huggingface_hub cache layout', async () => {
    assert.equal(hubCacheDir(), join(home, 'hub'));
    const done: string[] = [];
    const dir = await resolveModel('test-org/tiny', {
      onProgress: (p) => {
        if (p.done) {
          done.push(p.file);
          assert.equal(p.received, p.total);
        }
      },
    });
    assert.deepEqual(done.sort(), TINY_DOWNLOADED);
    const root = storage(TINY);
    assert.equal(dir, join(root, 'snapshots', TINY.commit));
    assert.equal(await readFile(join(root, 'refs', 'main'), 'utf8'), TINY.commit);

    const want = TINY_DOWNLOADED.map((p) => file(TINY, p));
    assert.deepEqual((await readdir(join(root, 'blobs'))).sort(), want.map(etagOf).sort());
    assert.deepEqual((await readdir(dir)).sort(), TINY_DOWNLOADED);
    for (const f of want) {
      const link = join(dir, f.path);
      assert.ok((await lstat(link)).isSymbolicLink(), `${f.path} is a symlink`);
      assert.equal(await readlink(link), `../../blobs/${etagOf(f)}`);
      assert.deepEqual(new Uint8Array(await readFile(link)), f.content);
    }
    // Absent optional files are recorded the way huggingface_hub does.
    assert.ok(await exists(join(root, '.no_exist', TINY.commit, 'tokenizer_config.json')));

    // LFS bytes come from the CDN; the hub only answers the API and HEADs; nothing else is fetched.
    const gets = hub.requests.filter((r) => r.method === 'GET');
    assert.deepEqual(
      gets.filter((r) => r.server === 'cdn').map((r) => r.url),
      [`/cdn/${etagOf(file(TINY, 'model.safetensors'))}`],
    );
    assert.ok(!hub.requests.some((r) => r.url.includes('pytorch_model.bin') || r.url.includes('README')));
    // Files are fetched at the commit the API reported, so a moving branch cannot mix two commits.
    assert.ok(
      hub.requests
        .filter((r) => r.url.includes('/resolve/'))
        .every((r) => r.url.includes(`/resolve/${TINY.commit}/`)),
    );

    const w = await openSafetensorsFolder(dir);
    assert.deepEqual(w.names(), ['wte.weight', 'ln_f.bias']);
    await w.close();
  });

  test('a second resolve makes no requests', async () => {
    const first = await resolveModel('test-org/tiny');
    hub.requests.length = 0;
    assert.equal(await resolveModel('test-org/tiny'), first);
    assert.equal(await resolveModel('test-org/tiny', { offline: true }), first);
    assert.equal(await resolveModel('test-org/tiny', { revision: TINY.commit }), first);
    assert.deepEqual(hub.requests, []);
  });

  test('reuses a cache written by Python without touching the network', async () => {
    const root = storage(TINY);
    await mkdir(join(root, 'blobs'), { recursive: true });
    await mkdir(join(root, 'refs'), { recursive: true });
    await mkdir(join(root, 'snapshots', TINY.commit), { recursive: true });
    await writeFile(join(root, 'refs', 'main'), TINY.commit);
    for (const p of ['config.json', 'tokenizer.json', 'model.safetensors']) {
      const f = file(TINY, p);
      await writeFile(join(root, 'blobs', etagOf(f)), f.content);
      await symlink(`../../blobs/${etagOf(f)}`, join(root, 'snapshots', TINY.commit, p));
    }
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9'; // nothing listens there
    assert.equal(await resolveModel('test-org/tiny'), join(root, 'snapshots', TINY.commit));
    assert.deepEqual(hub.requests, []);
  });

  test('HF_HUB_CACHE overrides HF_HOME', async () => {
    const cache = join(home, 'elsewhere');
    process.env.HF_HUB_CACHE = cache;
    const dir = await resolveModel('test-org/tiny');
    assert.equal(dir, join(cache, 'models--test-org--tiny', 'snapshots', TINY.commit));
  });

  test('an interrupted download resumes with a Range request', async () => {
    const model = file(TINY, 'model.safetensors');
    const blob = join(storage(TINY), 'blobs', etagOf(model));
    hub.options.cutOnce = new Set(['model.safetensors']);
    await expectGlassError(resolveModel('test-org/tiny'), 'NETWORK', 'model.safetensors', 'resume');
    const partial = (await stat(`${blob}.incomplete`)).size;
    assert.ok(partial > 0 && partial < model.content.length, `partial size ${partial}`);
    assert.equal(await exists(blob), false);

    hub.requests.length = 0;
    const progress: number[] = [];
    const dir = await resolveModel('test-org/tiny', {
      onProgress: (p) => {
        if (p.file === 'model.safetensors') progress.push(p.received);
      },
    });
    const cdn = hub.requests.filter((r) => r.server === 'cdn');
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0].range, `bytes=${partial}-`);
    assert.equal(cdn[0].status, 206);
    assert.equal(progress[0], partial);
    assert.equal(progress.at(-1), model.content.length);
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'model.safetensors'))), model.content);
    assert.equal(await exists(`${blob}.incomplete`), false);
    // Small files finished in the first run are not fetched again.
    assert.ok(!hub.requests.some((r) => r.method === 'GET' && r.url.endsWith('/config.json')));
  });

  test('a server that ignores Range restarts from 0', async () => {
    const model = file(TINY, 'model.safetensors');
    hub.options.cutOnce = new Set(['model.safetensors']);
    await expectGlassError(resolveModel('test-org/tiny'), 'NETWORK');
    hub.options.ignoreRange = true;
    const dir = await resolveModel('test-org/tiny');
    const last = hub.requests.filter((r) => r.server === 'cdn').at(-1)!;
    assert.ok(last.range?.startsWith('bytes='));
    assert.equal(last.status, 200);
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'model.safetensors'))), model.content);
  });

  /**
   * A bad download of `path` is refused (CHECKSUM, naming the file, its ETag and `parts`) and nothing of
   * it is cached; once `fix` repairs the hub, the next resolve stores the right bytes.
   */
  async function refusedNotCached(path: string, fix: () => void, ...parts: string[]): Promise<void> {
    const f = file(TINY, path);
    const blob = join(storage(TINY), 'blobs', etagOf(f));
    await expectGlassError(resolveModel('test-org/tiny'), 'CHECKSUM', path, etagOf(f), ...parts);
    assert.equal(await exists(blob), false);
    assert.equal(await exists(`${blob}.incomplete`), false);
    assert.equal(await exists(join(storage(TINY), 'snapshots', TINY.commit, path)), false);
    fix();
    const dir = await resolveModel('test-org/tiny');
    assert.deepEqual(new Uint8Array(await readFile(join(dir, path))), f.content);
  }

  test('a corrupted file raises CHECKSUM and is deleted', async () => {
    hub.options.corrupt = new Set(['model.safetensors']);
    await refusedNotCached('model.safetensors', () => (hub.options.corrupt = undefined), 'sha256');
  });

  test('a body cut short with no size header is refused by its git blob sha1 and not cached', async () => {
    hub.options.silentCut = new Set(['config.json']);
    await refusedNotCached(
      'config.json',
      () => (hub.options.silentCut = undefined),
      'incomplete or corrupt',
      'git blob sha1',
    );
    const get = hub.requests.find((r) => r.method === 'GET' && r.url.endsWith('/config.json'));
    assert.equal(get?.status, 200, 'the cut body was served as a whole response');
  });

  test('a wrong non-LFS file (right size) raises CHECKSUM and is not cached', async () => {
    hub.options.corrupt = new Set(['vocab.json']);
    await refusedNotCached('vocab.json', () => (hub.options.corrupt = undefined), 'git blob sha1');
  });

  test('two pulls of one repo at once both succeed, each file downloaded once', async () => {
    const waits: string[] = [];
    const [a, b] = await Promise.all([
      resolveModel('test-org/tiny', { onWait: (m) => waits.push(m) }),
      resolveModel('test-org/tiny', { onWait: (m) => waits.push(m) }),
    ]);
    assert.equal(a, b);
    assert.deepEqual((await readdir(a)).sort(), TINY_DOWNLOADED);
    for (const f of TINY_DOWNLOADED) {
      assert.deepEqual(new Uint8Array(await readFile(join(a, f))), file(TINY, f).content, f);
      const gets = hub.requests.filter(
        (r) => r.method === 'GET' && r.url.includes(f === 'model.safetensors' ? '/cdn/' : `/${f}`),
      );
      assert.equal(gets.length, 1, `${f} downloaded once`);
    }
    assert.ok(waits.length > 0, 'one pull waited for the other');
    assert.match(
      waits[0],
      /^waiting: glasslm pull test-org\/tiny \(pid \d+ on .+\) holds .+\.glasslm-lock; waiting for its download of /,
    );
    const blobs = await readdir(join(storage(TINY), 'blobs'));
    assert.deepEqual(
      blobs.filter((x) => x.endsWith('.incomplete')),
      [],
    );
    assert.deepEqual(
      await readdir(join(home, 'hub', '.locks', 'models--test-org--tiny')),
      [],
      'no lock left',
    );
  });

  test('an invalid X-Repo-Commit is named as invalid, not as missing', async () => {
    hub.options.noApi = true;
    hub.options.repoCommit = 'main; rm -rf /';
    await expectGlassError(
      resolveModel('test-org/tiny'),
      'NETWORK',
      'invalid X-Repo-Commit',
      '"main; rm -rf /"',
    );
  });

  test('credentials in HF_ENDPOINT are never printed', async () => {
    process.env.HF_ENDPOINT = `http://me:s3cret-pw@127.0.0.1:9`;
    const e = await expectGlassError(
      resolveModel('test-org/tiny'),
      'BAD_INPUT',
      'http://me:***@127.0.0.1:9',
      'HF_TOKEN',
    );
    assert.doesNotMatch(e.message, /s3cret/);
    process.env.HF_ENDPOINT = `not a url?token=s3cret-tk`;
    const e2 = await expectGlassError(resolveModel('test-org/tiny'), 'BAD_INPUT', 'token=***');
    assert.doesNotMatch(e2.message, /s3cret/);
  });

  test('HF_TOKEN reaches the hub as a Bearer header (and not the CDN)', async () => {
    hub.options.requireToken = 'hf_test_secret';
    await expectGlassError(resolveModel('test-org/tiny'), 'NETWORK', 'HF_TOKEN', '401');
    hub.requests.length = 0;
    process.env.HF_TOKEN = 'hf_test_secret';
    await resolveModel('test-org/tiny');
    const hubReqs = hub.requests.filter((r) => r.server === 'hub');
    assert.ok(hubReqs.length > 0);
    for (const r of hubReqs) assert.equal(r.authorization, 'Bearer hf_test_secret', `${r.method} ${r.url}`);
    for (const r of hub.requests.filter((x) => x.server === 'cdn')) assert.equal(r.authorization, undefined);
  });

  test('a wrong HF_TOKEN says the token was refused', async () => {
    hub.options.requireToken = 'right';
    process.env.HF_TOKEN = 'wrong';
    await expectGlassError(resolveModel('test-org/tiny'), 'NETWORK', 'HF_TOKEN', 'refused');
  });

  test('without the API, files are probed with HEAD requests', async () => {
    hub.options.noApi = true;
    const dir = await resolveModel('test-org/tiny');
    assert.deepEqual((await readdir(dir)).sort(), TINY_DOWNLOADED);
    assert.ok(
      hub.requests.some(
        (r) => r.method === 'HEAD' && r.status === 404 && r.url.endsWith('/tokenizer_config.json'),
      ),
    );
    assert.equal(await readFile(join(storage(TINY), 'refs', 'main'), 'utf8'), TINY.commit);
    hub.requests.length = 0;
    await resolveModel('test-org/tiny');
    assert.deepEqual(hub.requests, []);
  });

  test('sharded weights in a subfolder, no tokenizer', async () => {
    const dir = await resolveModel('test-org/sharded');
    const shard = file(SHARDED, 'weights/model-00001-of-00002.safetensors');
    const link = join(dir, 'weights', 'model-00001-of-00002.safetensors');
    assert.equal(await readlink(link), `../../../blobs/${etagOf(shard)}`);
    const w = await openSafetensorsFolder(dir);
    assert.deepEqual([...(await w.read('a'))], [1, 2, 3, 4]);
    assert.deepEqual([...(await w.read('b'))], [5, 6]);
    await w.close();
    for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt']) {
      assert.ok(await exists(join(storage(SHARDED), '.no_exist', SHARDED.commit, f)), f);
    }
    hub.requests.length = 0;
    assert.equal(await resolveModel('test-org/sharded'), dir);
    assert.deepEqual(hub.requests, []);
  });

  test('listCachedModels reports what was downloaded', async () => {
    assert.deepEqual(await listCachedModels(), []);
    await resolveModel('test-org/tiny');
    await resolveModel('test-org/sharded');
    const models = await listCachedModels();
    assert.deepEqual(
      models.map((m) => m.id),
      ['test-org/sharded', 'test-org/tiny'],
    );
    const tiny = models[1];
    assert.equal(tiny.path, storage(TINY));
    assert.equal(tiny.revisions.length, 1);
    const rev = tiny.revisions[0];
    assert.equal(rev.commit, TINY.commit);
    assert.deepEqual(rev.refs, ['main']);
    assert.deepEqual(rev.files, TINY_DOWNLOADED);
    const bytes = TINY_DOWNLOADED.reduce((s, p) => s + file(TINY, p).content.length, 0);
    assert.equal(rev.bytes, bytes);
    assert.ok(models[0].revisions[0].files.includes('weights/model-00002-of-00002.safetensors'));
  });
});

describe('hub errors', () => {
  test('an unknown repo is NOT_FOUND', async () => {
    await expectGlassError(resolveModel('test-org/nope'), 'NOT_FOUND', 'test-org/nope');
    hub.options.noApi = true;
    await expectGlassError(resolveModel('test-org/nope'), 'NOT_FOUND', 'test-org/nope');
  });

  test('an unknown revision is NOT_FOUND', async () => {
    await expectGlassError(
      resolveModel('test-org/tiny', { revision: 'v9' }),
      'NOT_FOUND',
      'test-org/tiny@v9',
    );
  });

  test('PyTorch-only weights are UNSUPPORTED and say safetensors is needed', async () => {
    await expectGlassError(
      resolveModel('test-org/pt-only'),
      'UNSUPPORTED',
      'pytorch_model.bin',
      'safetensors',
    );
  });

  test('an unreachable hub is a NETWORK error naming the URL', async () => {
    const dead = http.createServer();
    await new Promise<void>((ok) => dead.listen(0, '127.0.0.1', () => ok()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((ok) => dead.close(() => ok()));
    process.env.HF_ENDPOINT = `http://127.0.0.1:${port}`;
    await expectGlassError(
      resolveModel('test-org/tiny'),
      'NETWORK',
      `cannot reach http://127.0.0.1:${port}/api/models/test-org/tiny`,
    );
  });

  test('offline with an empty cache is NOT_FOUND', async () => {
    await expectGlassError(
      resolveModel('test-org/tiny', { offline: true }),
      'NOT_FOUND',
      'test-org/tiny',
      'offline',
    );
    process.env.HF_HUB_OFFLINE = '1';
    await expectGlassError(resolveModel('test-org/tiny'), 'NOT_FOUND', 'offline');
    assert.deepEqual(hub.requests, []);
  });

  test('local folders are returned as is; bad ids and missing paths are refused', async () => {
    assert.equal(await resolveModel(home), home);
    await expectGlassError(resolveModel('./no/such/folder'), 'NOT_FOUND', './no/such/folder');
    await expectGlassError(resolveModel('bad id!'), 'BAD_INPUT', 'bad id!');
    await expectGlassError(resolveModel('test-org/tiny', { revision: '../x' }), 'BAD_INPUT', '../x');
    assert.deepEqual(hub.requests, []);
  });
});
