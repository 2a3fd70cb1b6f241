// A child process for the concurrency tests: indexes a folder into a store with the stand-in model, the
// way `glasslm index` does (writer lock, wait notice on stderr). With a third argument it holds the store
// after opening it until that file exists, so a test can start a second run while the first holds it.
import { existsSync } from 'node:fs';
import { indexFolder } from '../../src/search/indexer.js';
import { VectorStore } from '../../src/search/store.js';
import { CHUNKING, fakeEmbedder } from './helpers.js';

const [db, docs, hold] = process.argv.slice(2);
const store = await VectorStore.open(db, {
  create: true,
  writer: true,
  purpose: 'test index',
  onWait: (m) => process.stderr.write(`${m}\n`),
});
process.stdout.write('opened\n');
while (hold && !existsSync(hold)) await new Promise((res) => setTimeout(res, 25));
const r = await indexFolder(store, docs, fakeEmbedder(), CHUNKING);
process.stdout.write(`${JSON.stringify(r.store)}\n`);
await store.close();
