// Computes SIF's common component for a word-vector model folder and writes it into its config.json as
// remove_component: the first principal component (uncentred, as Arora et al. 2017) of the SIF vectors of
// a reference text's lines, each line one sentence (src/embed/word-vectors.ts firstPrincipalComponent),
// before any component is removed. Lines with no word in the vocabulary are left out.
// models/kjv-word2vec's comes from the KJV training text, one verse per line (scripts/train-word2vec-kjv.sh).
// Usage: npx tsx scripts/sif-component.ts <model folder> <reference text>
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbeddingModel } from '../src/embed/load.js';
import { firstPrincipalComponent, WordVectorEmbedder } from '../src/embed/word-vectors.js';
import { parseVocab } from '../src/word2vec/formats.js';

const [dir, textPath] = process.argv.slice(2);
if (!dir || !textPath) {
  console.error('usage: npx tsx scripts/sif-component.ts <model folder> <reference text>');
  process.exit(2);
}
const configPath = join(dir, 'config.json');
const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
const loaded = await loadEmbeddingModel(dir);
if (!(loaded instanceof WordVectorEmbedder) || loaded.pooling !== 'sif') {
  console.error(`${dir}: not a word2vec-sif model folder`);
  process.exit(2);
}
// The same weights without a component: the vectors the component is computed from.
const plain = new WordVectorEmbedder({
  vectors: loaded.vectors,
  source: dir,
  weighting: 'sif',
  counts: parseVocab(readFileSync(join(dir, String(config.vocab ?? 'vocab.txt')), 'utf8')),
  a: loaded.a,
});
const lines = readFileSync(textPath, 'utf8')
  .split('\n')
  .filter((l) => plain.words(l).some((w) => w.row >= 0));
const c = firstPrincipalComponent(
  lines.map((l) => plain.sentenceVector(l)),
  plain.dim,
);
config.remove_component = Array.from(c, (x) => Number(x.toPrecision(9)));
// one line for the vector, so that the config stays readable
const json = JSON.stringify(config, (k, v: unknown) => (k === 'remove_component' ? '@C@' : v), 2);
writeFileSync(configPath, json.replace('"@C@"', JSON.stringify(config.remove_component)) + '\n');
console.error(`${configPath}: remove_component from ${lines.length} lines of ${textPath}`);
