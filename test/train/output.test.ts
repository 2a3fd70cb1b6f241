// Output folders never lose work (src/cli/output.ts): a folder of someone else's files needs --force, a file
// is not a folder, the output may never be an input (compared by real path, links resolved), and a run that
// fails removes only what it created.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputFolder } from '../../src/cli/output.js';
import { FILES, isOutputEntry } from '../../src/train/checkpoint-node.js';

const OPTS = { owns: isOutputEntry, marker: FILES.state };

test('OutputFolder: foreign files need --force; a file, the model read, or a link to it is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-output-'));
  try {
    const foreign = join(dir, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    await writeFile(join(foreign, 'config.json'), '{}');
    await assert.rejects(
      OutputFolder.check(foreign, OPTS),
      /^GlassError: --out .*foreign is not empty and is not a glasslm output folder \(it holds notes\.txt\) — choose another --out, or pass --force/,
    );
    await OutputFolder.check(foreign, { ...OPTS, force: true });
    // Only glasslm's own names (what a killed run leaves), or a checkpoint: no --force needed.
    const own = join(dir, 'own');
    await mkdir(own);
    await writeFile(join(own, FILES.ids), '');
    await writeFile(join(own, `${FILES.metrics}.tmp-99999999`), '');
    await OutputFolder.check(own, OPTS);
    await writeFile(join(foreign, FILES.state), '{}');
    await OutputFolder.check(foreign, OPTS);

    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(OutputFolder.check(join(dir, 'file'), OPTS), /--out .*file is a file, not a folder/);
    await assert.rejects(
      OutputFolder.check(join(dir, 'file', 'sub'), OPTS),
      /--out .*sub: .*file is a file, not a folder/,
    );

    const model = join(dir, 'model');
    await mkdir(model);
    await writeFile(join(model, FILES.weights), 'weights');
    await symlink(model, join(dir, 'alias'));
    for (const [out, input] of [
      [model, model],
      [join(dir, 'alias'), model],
      [model, join(dir, 'alias', FILES.weights)],
    ]) {
      await assert.rejects(
        OutputFolder.check(out, { ...OPTS, force: true, inputs: [input] }),
        /would write over .*, which this command reads — choose another --out/,
        `${out} ← ${input}`,
      );
    }
    // A data file of its own name inside the output is not written over: allowed (with --force).
    await writeFile(join(model, 'corpus.txt'), 'text');
    await OutputFolder.check(model, { ...OPTS, force: true, inputs: [join(model, 'corpus.txt')] });
    assert.equal(await readFile(join(model, FILES.weights), 'utf8'), 'weights');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('OutputFolder.discard removes only what the run created', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasslm-output-'));
  try {
    const fresh = join(dir, 'a', 'b');
    const f = await OutputFolder.check(fresh, OPTS);
    await f.create();
    await writeFile(join(fresh, FILES.metrics), '');
    await f.discard();
    assert.ok(!existsSync(join(dir, 'a')), 'the folders it made are gone');

    const existing = join(dir, 'existing');
    await mkdir(existing);
    await writeFile(join(existing, 'notes.txt'), 'mine');
    await writeFile(join(existing, FILES.ids), 'old');
    const g = await OutputFolder.check(existing, { ...OPTS, force: true });
    await g.create();
    await writeFile(join(existing, FILES.metrics), '');
    await mkdir(join(existing, 'checkpoint-2'));
    await g.discard();
    assert.deepEqual((await readdir(existing)).sort(), [FILES.ids, 'notes.txt'].sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
