// Loading byte-level BPE tokenizers from tokenizer.json, vocab.json + merges.txt and model folders,
// and the errors a user sees for broken or unsupported files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizerFromJson, loadTokenizerFromVocabMerges } from '../../src/tokenizers/load.js';
import { loadTokenizerFromFolder } from '../../src/tokenizers/load-node.js';
import { gpt2, gpt2Absent, gpt2AbsentMessage, gpt2Dir } from './gpt2-files.js';

const SAMPLE = "Hello world! It's 2024: naïve café, 中文, 😀👍🏽 and   spaces\n\n\tend<|endoftext|>";

let files: { vocab: Record<string, number>; mergesText: string; merges: string[] } | undefined;
function gpt2Files(): { vocab: Record<string, number>; mergesText: string; merges: string[] } {
  if (!files) {
    const vocab = JSON.parse(readFileSync(join(gpt2Dir, 'encoder.json'), 'utf8')) as Record<string, number>;
    const mergesText = readFileSync(join(gpt2Dir, 'vocab.bpe'), 'utf8');
    const merges = mergesText
      .split('\n')
      .slice(1)
      .filter((l) => l !== '');
    files = { vocab, mergesText, merges };
  }
  return files;
}

/** A GPT-2 tokenizer.json as Hugging Face writes it, built from the original files. */
function gpt2TokenizerJson(mergeStyle: 'strings' | 'pairs' = 'strings'): Record<string, unknown> {
  const { vocab, merges } = gpt2Files();
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: 50256,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: mergeStyle === 'strings' ? merges : merges.map((m) => m.split(' ')),
    },
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'glasslm-tok-'));
}

test('tokenizer.json with "a b" merges and with ["a","b"] merges both equal the original files', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const ref = await gpt2();
  const want = Array.from(ref.encode(SAMPLE));
  assert.ok(want.includes(50256));
  for (const style of ['strings', 'pairs'] as const) {
    const tok = loadTokenizerFromJson(gpt2TokenizerJson(style), `tokenizer.json (${style})`);
    assert.equal(tok.kind, 'bpe');
    assert.equal(tok.vocabSize, 50257);
    assert.deepEqual(tok.specialTokens, { bos: 50256, eos: 50256 });
    assert.deepEqual(Array.from(tok.encode(SAMPLE)), want, style);
    assert.equal(tok.decode(tok.encode(SAMPLE)), SAMPLE);
  }
});

test('vocab.json + merges.txt: the original files load, with <|endoftext|> as bos/eos', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const { vocab, mergesText } = gpt2Files();
  const tok = loadTokenizerFromVocabMerges(vocab, mergesText, 'gpt2');
  assert.deepEqual(tok.specialTokens, { bos: 50256, eos: 50256 });
  assert.deepEqual(Array.from(tok.encode('Hello world')), [15496, 995]);
  // CRLF line endings and no header load the same.
  const crlf = mergesText.split('\n').slice(1).join('\r\n');
  const tok2 = loadTokenizerFromVocabMerges(vocab, crlf, 'gpt2-crlf');
  assert.deepEqual(tok2.encode(SAMPLE), tok.encode(SAMPLE));
});

test('a merge naming a token missing from the vocabulary is BAD_FILE with file and line', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const { vocab } = gpt2Files();
  // merges.txt: line 1 is the header, so the bad merge is on line 3.
  assert.throws(
    () =>
      loadTokenizerFromVocabMerges(vocab, '#version: 0.2\nĠ t\nĠ zzqqxx\n', 'gpt2', {
        merges: 'my/merges.txt',
      }),
    {
      name: 'GlassError',
      code: 'BAD_FILE',
      message: /^my\/merges\.txt: merge line 3 "Ġ zzqqxx": token "zzqqxx" is not in the vocabulary/,
    },
  );
  // Both halves exist but their concatenation does not.
  assert.throws(() => loadTokenizerFromVocabMerges(vocab, '#version: 0.2\nĠ t\nĠt Ġt\n', 'gpt2-test'), {
    name: 'GlassError',
    code: 'BAD_FILE',
    message: /^gpt2-test: merge line 3 "Ġt Ġt": the merged token "ĠtĠt" is not in the vocabulary/,
  });
  assert.throws(() => loadTokenizerFromVocabMerges(vocab, 'Ġ t\nnot-a-pair\n', 'm.txt'), {
    code: 'BAD_FILE',
    message: /m\.txt: merge line 2: expected two tokens/,
  });
  // tokenizer.json: the bad merge is named by its index in model.merges, in both formats.
  for (const style of ['strings', 'pairs'] as const) {
    const json = gpt2TokenizerJson(style);
    const model = json.model as { merges: unknown[] };
    model.merges = [
      ...model.merges.slice(0, 5),
      style === 'strings' ? 'Ġ zzqqxx' : ['Ġ', 'zzqqxx'],
      ...model.merges.slice(5),
    ];
    assert.throws(() => loadTokenizerFromJson(json, 'some/tokenizer.json'), {
      name: 'GlassError',
      code: 'BAD_FILE',
      message:
        /^some\/tokenizer\.json: model\.merges\[5\] "Ġ zzqqxx": token "zzqqxx" is not in the vocabulary/,
    });
  }
});

test('tokenizer.json of an unsupported model type is UNSUPPORTED; malformed ones are BAD_FILE', async (t) => {
  assert.throws(() => loadTokenizerFromJson({ model: { type: 'WordLevel', vocab: {} } }, 'x.json'), {
    code: 'UNSUPPORTED',
    message: /x\.json: model\.type "WordLevel"/,
  });
  assert.throws(() => loadTokenizerFromJson({ model: { type: 'Unigram', vocab: [] } }, 'x.json'), {
    code: 'BAD_FILE',
    message: /x\.json: model\.unk_id/,
  });
  assert.throws(() => loadTokenizerFromJson([], 'x.json'), {
    code: 'BAD_FILE',
    message: /x\.json: expected a JSON object/,
  });
  assert.throws(() => loadTokenizerFromJson({}, 'x.json'), { code: 'BAD_FILE', message: /x\.json: "model"/ });
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const metaspace = gpt2TokenizerJson();
  metaspace.pre_tokenizer = { type: 'Metaspace', replacement: '▁' };
  assert.throws(() => loadTokenizerFromJson(metaspace, 'm.json'), {
    code: 'UNSUPPORTED',
    message: /m\.json: pre_tokenizer of type "Metaspace"/,
  });
  const nfc = gpt2TokenizerJson();
  nfc.normalizer = { type: 'NFC' };
  assert.throws(() => loadTokenizerFromJson(nfc, 'n.json'), {
    code: 'UNSUPPORTED',
    message: /n\.json: normalizer "NFC"/,
  });
  const badVocab = gpt2TokenizerJson();
  (badVocab.model as { vocab: unknown }).vocab = { a: 'zero' };
  assert.throws(() => loadTokenizerFromJson(badVocab, 'v.json'), {
    code: 'BAD_FILE',
    message: /v\.json: model\.vocab: token "a"/,
  });
});

test('tokenizer.json: Split(regex) + ByteLevel pre-tokenizer, ignore_merges, extra added tokens', async (t) => {
  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  const json = gpt2TokenizerJson('pairs');
  json.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      {
        type: 'Split',
        pattern: {
          Regex:
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        },
        behavior: 'Isolated',
        invert: false,
      },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
  (json.added_tokens as unknown[]).push(
    { id: 50257, content: '<|im_end|>', special: true },
    { id: 50258, content: '[PLAIN-1]', special: false },
  );
  const tok = loadTokenizerFromJson(json, 'llama3-like.json', {
    tokenConfig: { eos_token: { content: '<|im_end|>' } },
  });
  assert.equal(tok.vocabSize, 50259);
  assert.deepEqual(tok.specialTokens, { bos: 50256, eos: 50257 });
  const ref = await gpt2();
  const ids = (s: string): number[] => Array.from(ref.encode(s));
  // Digits in groups of three; "'LL" is a contraction whatever its case.
  assert.deepEqual(Array.from(tok.encode('12345')), [...ids('123'), ...ids('45')]);
  assert.deepEqual(Array.from(tok.encode("WE'LL")), [...ids('WE'), ...ids("'LL")]);
  // Special added tokens obey allowSpecial; non-special ones are always matched.
  assert.deepEqual(Array.from(tok.encode('a<|im_end|>[PLAIN-1]')), [64, 50257, 50258]);
  const plain = Array.from(tok.encode('a<|im_end|>[PLAIN-1]', { allowSpecial: false }));
  assert.ok(!plain.includes(50257) && plain.at(-1) === 50258);
  assert.equal(tok.decode([64, 50257, 50258]), 'a<|im_end|>[PLAIN-1]');

  // ignore_merges: a pre-token that is a vocabulary token is taken whole, even when no merge makes it.
  // Dropping GPT-2's last merge ("Ġg azed") leaves "Ġgazed" (50255) reachable only that way; without
  // ignore_merges that is a tokenizer.json missing a merge, refused by name.
  const model = json.model as Record<string, unknown> & { merges: string[][] };
  model.merges = model.merges.slice(0, -1);
  assert.throws(() => loadTokenizerFromJson(json, 'llama3-like.json'), {
    name: 'GlassError',
    message: /llama3-like\.json: model\.merges: vocabulary token "Ġgazed" \(id 50255\) is made by no merge/,
  });
  model.ignore_merges = true;
  const ignoring = loadTokenizerFromJson(json, 'llama3-like.json');
  assert.deepEqual(Array.from(ignoring.encode(' gazed')), [50255]);
  assert.deepEqual(ignoring.encode(SAMPLE), tok.encode(SAMPLE));

  const bad = gpt2TokenizerJson();
  bad.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: '(?x) a' }, behavior: 'Isolated' },
      { type: 'ByteLevel', use_regex: false },
    ],
  };
  assert.throws(() => loadTokenizerFromJson(bad, 'bad.json'), {
    code: 'UNSUPPORTED',
    message: /bad\.json: pre_tokenizer/,
  });
});

test('loadTokenizerFromFolder: tokenizer.json first, then tokenizer.model, vocab.json + merges.txt, tokenizer.bin, else NOT_FOUND', async (t) => {
  const empty = tempDir();
  try {
    await assert.rejects(loadTokenizerFromFolder(empty), {
      name: 'GlassError',
      code: 'NOT_FOUND',
      message: new RegExp(
        `^${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no tokenizer found \\(looked for tokenizer\\.json, or source\\.spm \\+ target\\.spm \\+ vocab\\.json, or tokenizer\\.model, or vocab\\.json \\+ merges\\.txt, or encoder\\.json \\+ vocab\\.bpe, or vocab\\.txt, or tokenizer\\.bin\\)`,
      ),
    });
    writeFileSync(join(empty, 'vocab.json'), '{}');
    await assert.rejects(loadTokenizerFromFolder(empty), {
      code: 'NOT_FOUND',
      message: /but not .*merges\.txt/,
    });
    writeFileSync(join(empty, 'tokenizer.json'), '{ not json');
    await assert.rejects(loadTokenizerFromFolder(empty), {
      code: 'BAD_FILE',
      message: /tokenizer\.json: not valid JSON/,
    });
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }

  if (gpt2Absent) return void t.skip(gpt2AbsentMessage);
  // The shared folder holds OpenAI's encoder.json + vocab.bpe.
  const ref = await gpt2();
  assert.deepEqual(Array.from(ref.encode('Hello world')), [15496, 995]);

  const dir = tempDir();
  try {
    const { vocab, mergesText } = gpt2Files();
    // vocab.json + merges.txt with a broken merge: the error names merges.txt and the line.
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(dir, 'merges.txt'), mergesText.replace('\nh e\n', '\nh eqqzz\n'));
    await assert.rejects(loadTokenizerFromFolder(dir), {
      code: 'BAD_FILE',
      message: new RegExp(`merges\\.txt: merge line 4 "h eqqzz": token "eqqzz" is not in the vocabulary`),
    });
    // A tokenizer.json wins over the (broken) pair.
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(gpt2TokenizerJson()));
    const tok = await loadTokenizerFromFolder(dir);
    assert.deepEqual(tok.encode(SAMPLE), ref.encode(SAMPLE));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
