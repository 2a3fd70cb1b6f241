// Training data for sentence-embedding fine-tuning: a pairs file, one "anchor<TAB>positive" per line (the two
// texts should mean the same; every other pair's positive is a negative for this anchor, see PairContrast).
// Parsing and the train/validation split only: tokenizing is the embedder's (SentenceEmbedder.inputIds).
import { GlassError } from '../util/errors.js';

export type TextPair = readonly [anchor: string, positive: string];

/** Fewest training pairs a run accepts: in-batch negatives need at least one other pair. */
export const MIN_TRAIN_PAIRS = 2;

/**
 * The pairs of a pairs file (`names`: what the two sides are called in errors). Blank lines are skipped; a line without exactly one tab, or with an empty side,
 * is refused, naming `path:line`.
 */
export function parsePairs(
  text: string,
  path: string,
  names: readonly [string, string] = ['anchor', 'positive'],
): TextPair[] {
  const pairs: TextPair[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;
    const where = `${path}:${i + 1}`;
    const parts = line.split('\t');
    if (parts.length !== 2) {
      throw new GlassError(
        'BAD_INPUT',
        `${where}: expected "${names[0]}<TAB>${names[1]}" (one tab), found ${parts.length - 1} tabs`,
      );
    }
    const [anchor, positive] = parts.map((p) => p.trim());
    if (anchor === '' || positive === '')
      throw new GlassError('BAD_INPUT', `${where}: the ${anchor === '' ? names[0] : names[1]} is empty`);
    pairs.push([anchor, positive]);
  }
  return pairs;
}

/**
 * The last ⌊n·valFraction⌋ pairs held out for validation, as the text path holds out its tail — at least 2
 * when there are any (one pair alone has no negatives to score against). Refuses data too small to train
 * on before anything is written.
 */
export function splitPairs<T>(
  pairs: readonly T[],
  valFraction: number,
  path: string,
): { train: T[]; val: T[] } {
  let nVal = Math.floor(pairs.length * valFraction);
  if (nVal === 1) nVal = pairs.length - 2 >= MIN_TRAIN_PAIRS ? 2 : 0;
  const train = pairs.slice(0, pairs.length - nVal);
  if (train.length < MIN_TRAIN_PAIRS) {
    throw new GlassError(
      'BAD_INPUT',
      `${path} has ${pairs.length} pair${pairs.length === 1 ? '' : 's'}, too few: training needs at least ${MIN_TRAIN_PAIRS} (plus any held out for validation)`,
    );
  }
  return { train, val: pairs.slice(pairs.length - nVal) };
}
