// Stage 1 — loading SentencePiece-style BPE vocabularies from their binary files: llama2.c's
// `tokenizer.bin` (also `tok512.bin` and friends) and SentencePiece's own `tokenizer.model` (a
// protobuf ModelProto, read here with a minimal wire-format reader). Pure functions over bytes, so
// they run in browsers too; see load-node.ts for files. Hugging Face tokenizer.json files of the
// same kind are read in load.ts.

import { GlassError } from '../util/errors.js';
import { PieceType, SentencePieceTokenizer, SPACE_SYMBOL } from './sentencepiece.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// llama2.c tokenizer.bin: int32 max_token_length, then per token: float32 score, int32 length, the
// token's bytes. Little-endian. The vocabulary size is not stored: the tokens run to the end of the
// file. llama2.c's export wrote spaces instead of '▁' and "\n<s>\n", "\n</s>\n" for BOS and EOS.

export interface Llama2cTokenizerOptions {
  /** The vocabulary size the model expects (from its checkpoint header); checked when given. */
  vocabSize?: number;
}

/** Reads llama2.c's tokenizer.bin. Ids 0, 1, 2 are unk, bos, eos; `<0xNN>` pieces are byte fallback. */
export function loadLlama2cTokenizer(
  bytes: Uint8Array,
  name: string,
  options: Llama2cTokenizerOptions = {},
): SentencePieceTokenizer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) {
    throw new GlassError(
      'BAD_FILE',
      `${name}: ${bytes.byteLength} bytes, too short for a llama2.c tokenizer (int32 max_token_length first)`,
    );
  }
  const maxLen = view.getInt32(0, true);
  if (maxLen <= 0 || maxLen > 1 << 16) {
    throw new GlassError(
      'BAD_FILE',
      `${name}: max_token_length is ${maxLen}; not a llama2.c tokenizer.bin (expected 1..65536)`,
    );
  }
  const pieces: string[] = [];
  const scores: number[] = [];
  let pos = 4;
  while (pos < bytes.byteLength) {
    const i = pieces.length;
    if (pos + 8 > bytes.byteLength) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: truncated at token ${i} (byte ${pos}): its score and length need 8 bytes, ${bytes.byteLength - pos} left`,
      );
    }
    const score = view.getFloat32(pos, true);
    const len = view.getInt32(pos + 4, true);
    pos += 8;
    if (Number.isNaN(score)) throw new GlassError('BAD_FILE', `${name}: token ${i} has a NaN score`);
    if (len < 0 || len > maxLen) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: token ${i} (byte ${pos - 4}) has length ${len}, outside 0..max_token_length ${maxLen}`,
      );
    }
    if (pos + len > bytes.byteLength) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: truncated in token ${i}: its ${len} bytes run past the end of the file (${bytes.byteLength - pos} left)`,
      );
    }
    let text: string;
    try {
      text = strictUtf8.decode(bytes.subarray(pos, pos + len));
    } catch (e) {
      throw new GlassError('BAD_FILE', `${name}: token ${i} is not valid UTF-8`, { cause: e });
    }
    pos += len;
    // BOS and EOS were exported as "\n<s>\n" and "\n</s>\n" (to print nicely); every '▁' as ' '.
    if ((i === 1 || i === 2) && /^\n.*\n$/su.test(text)) text = text.slice(1, -1);
    pieces.push(text.replaceAll(' ', SPACE_SYMBOL));
    scores.push(score);
  }
  if (pieces.length < 3) {
    throw new GlassError(
      'BAD_FILE',
      `${name}: ${pieces.length} tokens; a llama2.c vocabulary starts with <unk>, <s>, </s>`,
    );
  }
  if (options.vocabSize !== undefined && options.vocabSize !== pieces.length) {
    throw new GlassError(
      'BAD_FILE',
      `${name}: ${pieces.length} tokens, but the model's vocabulary size is ${options.vocabSize}`,
    );
  }
  return new SentencePieceTokenizer({ name, pieces, scores, unk: 0, bos: 1, eos: 2, addDummyPrefix: true });
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format: each field is a varint key (field number << 3 | wire type), then a varint
// (type 0), 8 bytes (1), a varint length and that many bytes (2), or 4 bytes (5).

interface ProtoField {
  field: number;
  wire: number;
  /** Varint: its low 32 bits (read as unsigned); `big` says higher bits were set. */
  value: number;
  big: boolean;
  /** Length-delimited: the payload's [start, end) in the buffer. Fixed32/64: the same for its bytes. */
  start: number;
  end: number;
}

class ProtoReader {
  private readonly view: DataView;
  // The last varint read: its low 32 bits (unsigned) and whether higher bits were set.
  private lo = 0;
  private big = false;

  constructor(
    readonly bytes: Uint8Array,
    readonly name: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Reads a varint at pos into this.lo / this.big; returns the position after it. */
  private varint(pos: number, end: number, where: () => string): number {
    let lo = 0;
    let big = false;
    for (let i = 0; i < 10; i++) {
      if (pos >= end)
        throw new GlassError('BAD_FILE', `${this.name}: ${where()}: truncated varint at byte ${pos}`);
      const b = this.bytes[pos++];
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        if (bits >> 4 !== 0) big = true;
      } else if (bits !== 0) big = true;
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.big = big;
        return pos;
      }
    }
    throw new GlassError('BAD_FILE', `${this.name}: ${where()}: varint longer than 10 bytes at byte ${pos}`);
  }

  /**
   * Calls `visit` for each field of the message in [start, end), with one record refilled each
   * time; `names` name known fields in error messages.
   */
  each(
    start: number,
    end: number,
    where: string,
    names: Record<number, string>,
    visit: (f: ProtoField) => void,
  ): void {
    const f: ProtoField = { field: 0, wire: 0, value: 0, big: false, start: 0, end: 0 };
    const at = (): string =>
      names[f.field] !== undefined ? `${where}.${names[f.field]}` : `${where}, field ${f.field}`;
    let pos = start;
    while (pos < end) {
      const keyAt = pos;
      pos = this.varint(pos, end, () => where);
      f.field = this.lo >>> 3;
      f.wire = this.lo & 7;
      if (this.big || f.field === 0) {
        throw new GlassError('BAD_FILE', `${this.name}: ${where}: invalid field key at byte ${keyAt}`);
      }
      f.value = 0;
      f.big = false;
      f.start = pos;
      if (f.wire === 0) {
        pos = this.varint(pos, end, at);
        f.value = this.lo;
        f.big = this.big;
      } else if (f.wire === 1 || f.wire === 5) {
        const n = f.wire === 1 ? 8 : 4;
        if (pos + n > end)
          throw new GlassError('BAD_FILE', `${this.name}: ${at()}: truncated at byte ${pos}`);
        pos += n;
      } else if (f.wire === 2) {
        const q = this.varint(pos, end, at);
        if (this.big || q + this.lo > end) {
          throw new GlassError(
            'BAD_FILE',
            `${this.name}: ${at()}: length ${this.big ? '> 2^32' : this.lo} at byte ${pos} runs past the end of its message (byte ${end})`,
          );
        }
        f.start = q;
        pos = q + this.lo;
      } else {
        throw new GlassError(
          'BAD_FILE',
          `${this.name}: ${at()}: wire type ${f.wire} at byte ${keyAt} is not supported (not a SentencePiece model?)`,
        );
      }
      f.end = pos;
      visit(f);
    }
  }

  private expect(f: ProtoField, wire: number, where: string): void {
    if (f.wire !== wire) {
      throw new GlassError(
        'BAD_FILE',
        `${this.name}: ${where} has wire type ${f.wire}, expected ${wire} (not a SentencePiece model?)`,
      );
    }
  }

  string(f: ProtoField, where: string): string {
    this.expect(f, 2, where);
    // Short ASCII strings (most pieces) without TextDecoder's per-call cost.
    if (f.end - f.start <= 64) {
      let ascii = '';
      let k = f.start;
      for (; k < f.end && this.bytes[k] < 0x80; k++) ascii += String.fromCharCode(this.bytes[k]);
      if (k === f.end) return ascii;
    }
    try {
      return strictUtf8.decode(this.bytes.subarray(f.start, f.end));
    } catch (e) {
      throw new GlassError('BAD_FILE', `${this.name}: ${where} is not valid UTF-8`, { cause: e });
    }
  }

  bytesOf(f: ProtoField, where: string): Uint8Array {
    this.expect(f, 2, where);
    return this.bytes.subarray(f.start, f.end);
  }

  float(f: ProtoField, where: string): number {
    this.expect(f, 5, where);
    return this.view.getFloat32(f.start, true);
  }

  /** int32 / enum: a negative int32 is written as a 10-byte varint whose low 32 bits are its two's complement. */
  int32(f: ProtoField, where: string): number {
    this.expect(f, 0, where);
    return f.value | 0;
  }

  bool(f: ProtoField, where: string): boolean {
    this.expect(f, 0, where);
    return f.value !== 0 || f.big;
  }

  /** Visits the fields of a length-delimited field holding a message. */
  message(
    f: ProtoField,
    where: string,
    visit: (g: ProtoField) => void,
    names: Record<number, string> = {},
  ): void {
    this.expect(f, 2, where);
    this.each(f.start, f.end, where, names, visit);
  }
}

// ---------------------------------------------------------------------------------------------
// SentencePiece ModelProto (sentencepiece_model.proto): 1 pieces (repeated: 1 piece, 2 score,
// 3 type), 2 trainer_spec (3 model_type, 24 treat_whitespace_as_suffix, 35 byte_fallback,
// 40..43 unk/bos/eos/pad ids), 3 normalizer_spec (1 name, 2 precompiled_charsmap,
// 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces).

const MODEL_TYPES: Record<number, string> = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' };

/** Reads a SentencePiece `tokenizer.model`. Only BPE models are supported. */
export function loadSentencePieceModel(bytes: Uint8Array, name: string): SentencePieceTokenizer {
  const r = new ProtoReader(bytes, name);
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  // Defaults from sentencepiece_model.proto.
  let modelType = 1;
  let byteFallback = false;
  let treatWsAsSuffix = false;
  let unk = 0;
  let bos = 1;
  let eos = 2;
  let pad = -1;
  let addDummyPrefix = true;
  let removeExtraWhitespaces = true;
  let escapeWhitespaces = true;
  let normalizerName = '';
  let charsmapBytes = 0;
  let sawTrainer = false;

  const names = { 1: 'pieces', 2: 'trainer_spec', 3: 'normalizer_spec' };
  r.each(0, bytes.byteLength, 'ModelProto', names, (f) => {
    if (f.field === 1) {
      const i = pieces.length;
      const where = `pieces[${i}]`;
      let piece: string | undefined;
      let score = 0;
      let type: number = PieceType.NORMAL;
      r.message(f, where, (g) => {
        if (g.field === 1) piece = r.string(g, `${where}.piece`);
        else if (g.field === 2) score = r.float(g, `${where}.score`);
        else if (g.field === 3) type = r.int32(g, `${where}.type`);
      });
      if (piece === undefined || piece === '') {
        throw new GlassError('BAD_FILE', `${name}: ${where} has no piece string`);
      }
      if (Number.isNaN(score)) throw new GlassError('BAD_FILE', `${name}: ${where}.score is NaN`);
      if (type < 1 || type > 6) {
        throw new GlassError(
          'BAD_FILE',
          `${name}: ${where} ${JSON.stringify(piece)} has type ${type} (expected 1..6)`,
        );
      }
      pieces.push(piece);
      scores.push(score);
      types.push(type);
    } else if (f.field === 2) {
      sawTrainer = true;
      r.message(f, 'ModelProto.trainer_spec', (g) => {
        const where = `trainer_spec field ${g.field}`;
        if (g.field === 3) modelType = r.int32(g, 'trainer_spec.model_type');
        else if (g.field === 24) treatWsAsSuffix = r.bool(g, where);
        else if (g.field === 35) byteFallback = r.bool(g, 'trainer_spec.byte_fallback');
        else if (g.field === 40) unk = r.int32(g, 'trainer_spec.unk_id');
        else if (g.field === 41) bos = r.int32(g, 'trainer_spec.bos_id');
        else if (g.field === 42) eos = r.int32(g, 'trainer_spec.eos_id');
        else if (g.field === 43) pad = r.int32(g, 'trainer_spec.pad_id');
      });
    } else if (f.field === 3) {
      r.message(f, 'ModelProto.normalizer_spec', (g) => {
        if (g.field === 1) normalizerName = r.string(g, 'normalizer_spec.name');
        else if (g.field === 2) charsmapBytes = r.bytesOf(g, 'normalizer_spec.precompiled_charsmap').length;
        else if (g.field === 3) addDummyPrefix = r.bool(g, 'normalizer_spec.add_dummy_prefix');
        else if (g.field === 4)
          removeExtraWhitespaces = r.bool(g, 'normalizer_spec.remove_extra_whitespaces');
        else if (g.field === 5) escapeWhitespaces = r.bool(g, 'normalizer_spec.escape_whitespaces');
      });
    }
  });

  if (pieces.length === 0) {
    throw new GlassError(
      'BAD_FILE',
      `${name}: no pieces (field 1 of ModelProto); not a SentencePiece model?`,
    );
  }
  if (modelType !== 2) {
    const what = MODEL_TYPES[modelType] ?? `model type ${modelType}`;
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: trainer_spec.model_type: not supported yet: ${what}${sawTrainer ? '' : ' (no trainer_spec: the default)'}; only SentencePiece BPE models are`,
    );
  }
  if (charsmapBytes > 0) {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: normalizer_spec ${JSON.stringify(normalizerName)} with a precompiled character map is not supported yet (only "identity" normalisation is)`,
    );
  }
  if (treatWsAsSuffix) {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: trainer_spec.treat_whitespace_as_suffix is not supported yet`,
    );
  }
  if (!escapeWhitespaces) {
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: normalizer_spec.escape_whitespaces = false is not supported yet`,
    );
  }
  const id = (v: number, what: string): number | null => {
    if (v < 0) return null;
    if (v >= pieces.length) {
      throw new GlassError(
        'BAD_FILE',
        `${name}: trainer_spec.${what} ${v} is outside the vocabulary (${pieces.length} pieces)`,
      );
    }
    return v;
  };
  return new SentencePieceTokenizer({
    name,
    pieces,
    scores,
    types,
    unk: id(unk, 'unk_id'),
    bos: id(bos, 'bos_id'),
    eos: id(eos, 'eos_id'),
    pad: id(pad, 'pad_id'),
    addDummyPrefix,
    removeExtraWhitespaces,
    byteFallback,
  });
}

/**
 * Guesses which binary tokenizer format `bytes` hold: 'sentencepiece' (a protobuf whose first field
 * is a piece), 'llama2c' (a plausible max_token_length, then a first token that fits), or undefined.
 */
export function sniffTokenizerBytes(bytes: Uint8Array): 'sentencepiece' | 'llama2c' | undefined {
  // ModelProto starts with field 1, wire type 2 (key 0x0A), a length, then the SentencePiece
  // message's own field 1 (0x0A) holding "<unk>" or similar.
  if (bytes.length > 4 && bytes[0] === 0x0a) {
    let pos = 1;
    while (pos < bytes.length && bytes[pos] & 0x80) pos++;
    if (bytes[pos + 1] === 0x0a) return 'sentencepiece';
  }
  if (bytes.length >= 12) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const maxLen = view.getInt32(0, true);
    const len = view.getInt32(8, true);
    if (maxLen > 0 && maxLen <= 1 << 16 && len >= 0 && len <= maxLen && 12 + len <= bytes.length)
      return 'llama2c';
  }
  return undefined;
}
