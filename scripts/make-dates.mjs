#!/usr/bin/env node
// Generates the dates task of models/dates-iso: a date written in words → its ISO 8601 form
// ("the third of March 1998" → "1998-03-03"), one "source<TAB>target" per line, deterministically (the same
// files on every run and machine: a seeded mulberry32, no clock, no locale).
//
//   node scripts/make-dates.mjs [outDir]        (default: dates/)
//
// writes
//   outDir/pairs.tsv   train + validation: `glasslm train --arch seq2seq --pairs` holds out its last 10%
//                      (--val-fraction 0.1), which is exactly the validation split
//   outDir/test.tsv    the test split, for scripts/eval-dates.mjs
//
// Every date from 1900-01-01 to 2099-12-31 is shuffled once; the test dates come first, then validation,
// then training, so no calendar date of the test (or validation) split occurs in training in any form.
// Each date is written in one surface form drawn at random (weekday-free): see FORMS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SEED = 20261202;
export const COUNTS = { test: 1000, val: 2000, train: 18000 };

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const UNITS = [
  '',
  'first',
  'second',
  'third',
  'fourth',
  'fifth',
  'sixth',
  'seventh',
  'eighth',
  'ninth',
  'tenth',
  'eleventh',
  'twelfth',
  'thirteenth',
  'fourteenth',
  'fifteenth',
  'sixteenth',
  'seventeenth',
  'eighteenth',
  'nineteenth',
];

/** 1 → "first", 21 → "twenty-first", 30 → "thirtieth". */
export function ordinalWord(d) {
  if (d < 20) return UNITS[d];
  const tens = d < 30 ? 'twenty' : 'thirty';
  if (d % 10 === 0) return d === 20 ? 'twentieth' : 'thirtieth';
  return `${tens}-${UNITS[d % 10]}`;
}

/** 1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd". */
export function ordinalDigits(d) {
  const teen = d % 100 >= 11 && d % 100 <= 13;
  const suffix = teen ? 'th' : (['th', 'st', 'nd', 'rd'][d % 10] ?? 'th');
  return `${d}${suffix}`;
}

/** The surface forms: (day, month name, year) → text. */
export const FORMS = [
  (d, m, y) => `the ${ordinalWord(d)} of ${m} ${y}`,
  (d, m, y) => `the ${ordinalWord(d)} of ${m}, ${y}`,
  (d, m, y) => `${m} ${d}, ${y}`,
  (d, m, y) => `${d} ${m} ${y}`,
  (d, m, y) => `the ${ordinalDigits(d)} of ${m}, ${y}`,
  (d, m, y) => `${m} ${ordinalDigits(d)}, ${y}`,
  (d, m, y) => `${m} the ${ordinalWord(d)}, ${y}`,
  (d, m, y) => `${ordinalDigits(d)} ${m} ${y}`,
  (d, m, y) => `${m.slice(0, 3)} ${d}, ${y}`,
  (d, m, y) => `${d} ${m.slice(0, 3)} ${y}`,
];

// mulberry32, as src/generate/rng.ts: written out here so the script runs with plain node (no build) and
// the data stays the same whatever becomes of the library's generator.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n, w) => String(n).padStart(w, '0');

/** The splits as arrays of [source, target]. */
export function makeDates() {
  const rng = mulberry32(SEED);
  const dates = [];
  for (let y = 1900; y <= 2099; y++) {
    for (let m = 1; m <= 12; m++) {
      const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
      for (let d = 1; d <= days; d++) dates.push([y, m, d]);
    }
  }
  for (let i = dates.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [dates[i], dates[j]] = [dates[j], dates[i]];
  }
  const pair = ([y, m, d]) => {
    const form = FORMS[Math.floor(rng() * FORMS.length)];
    return [form(d, MONTHS[m - 1], y), `${y}-${pad(m, 2)}-${pad(d, 2)}`];
  };
  let at = 0;
  const take = (n) => dates.slice(at, (at += n)).map(pair);
  const test = take(COUNTS.test);
  const val = take(COUNTS.val);
  const train = take(COUNTS.train);
  return { train, val, test };
}

const tsv = (pairs) => pairs.map((p) => p.join('\t')).join('\n') + '\n';

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2] ?? 'dates';
  const { train, val, test } = makeDates();
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'pairs.tsv'), tsv([...train, ...val]));
  writeFileSync(join(out, 'test.tsv'), tsv(test));
  process.stderr.write(
    `${join(out, 'pairs.tsv')}: ${train.length} train + ${val.length} validation pairs (the last 10%)\n` +
      `${join(out, 'test.tsv')}: ${test.length} test pairs\n`,
  );
}
