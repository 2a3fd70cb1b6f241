// Training — saving a SentencePiece vocabulary as `tokenizer.model` (SentencePiece's ModelProto, the file HF
// Llama-2 folders ship), so a fine-tuned llama2.c or GGUF model becomes a standard HF Llama folder. The
// pieces and scores come from llama2.c's tokenizer.bin or a GGUF's tokenizer.ggml.* metadata.
import { GlassError } from '../util/errors.js';

/** SentencePiece piece types (sentencepiece_model.proto). */
export const SP_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface SentencePieceVocab {
  pieces: string[];
  scores: number[];
  types: number[];
  unkId: number;
  bosId: number;
  eosId: number;
  /** -1: none. */
  padId: number;
  addDummyPrefix: boolean;
}

/** Pieces and scores of llama2.c's tokenizer.bin (int32 max_len, then per token: f32 score, i32 len, bytes). */
export function readLlama2cVocab(bytes: Uint8Array, name: string): SentencePieceVocab {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const scores: number[] = [];
  let pos = 4;
  while (pos + 8 <= bytes.length) {
    const score = view.getFloat32(pos, true);
    const len = view.getInt32(pos + 4, true);
    pos += 8;
    if (len < 0 || pos + len > bytes.length)
      throw new GlassError('BAD_FILE', `${name}: truncated at token ${pieces.length}`);
    let text = dec.decode(bytes.subarray(pos, pos + len));
    pos += len;
    const i = pieces.length;
    if ((i === 1 || i === 2) && /^\n.*\n$/su.test(text)) text = text.slice(1, -1);
    pieces.push(text.replaceAll(' ', '\u2581'));
    scores.push(score);
  }
  if (pieces.length < 3)
    throw new GlassError('BAD_FILE', `${name}: not a llama2.c tokenizer (${pieces.length} tokens)`);
  const types = pieces.map((p, i) =>
    i === 0
      ? SP_TYPE.UNKNOWN
      : i <= 2
        ? SP_TYPE.CONTROL
        : /^<0x[0-9A-Fa-f]{2}>$/.test(p)
          ? SP_TYPE.BYTE
          : SP_TYPE.NORMAL,
  );
  return { pieces, scores, types, unkId: 0, bosId: 1, eosId: 2, padId: -1, addDummyPrefix: true };
}

/** Protobuf wire-format writer: just what ModelProto needs. */
class ProtoWriter {
  private chunks: number[] = [];
  varint(v: number): void {
    if (v < 0) {
      // int32 negatives are sign-extended to 64 bits: ten bytes.
      let lo = v >>> 0;
      for (let i = 0; i < 4; i++) {
        this.chunks.push((lo & 0x7f) | 0x80);
        lo >>>= 7;
      }
      this.chunks.push((lo & 0x0f) | 0x70 | 0x80);
      for (let i = 0; i < 4; i++) this.chunks.push(0xff);
      this.chunks.push(0x01);
      return;
    }
    while (v > 0x7f) {
      this.chunks.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.chunks.push(v);
  }
  key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }
  int(field: number, v: number): void {
    this.key(field, 0);
    this.varint(v);
  }
  bool(field: number, v: boolean): void {
    this.int(field, v ? 1 : 0);
  }
  float(field: number, v: number): void {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.chunks.push(...b);
  }
  bytes(field: number, b: Uint8Array): void {
    this.key(field, 2);
    this.varint(b.length);
    for (const x of b) this.chunks.push(x);
  }
  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }
  message(field: number, m: ProtoWriter): void {
    this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/**
 * tokenizer.model bytes: pieces (1: piece, 2: score, 3: type), trainer_spec (model_type BPE, vocab_size,
 * byte_fallback, unk/bos/eos/pad ids) and normalizer_spec ("identity", add_dummy_prefix, no whitespace
 * collapsing, spaces as '▁') — how Llama 2's own tokenizer.model is set up.
 */
export function writeSentencePieceModel(v: SentencePieceVocab): Uint8Array {
  const w = new ProtoWriter();
  v.pieces.forEach((p, i) => {
    const m = new ProtoWriter();
    m.string(1, p);
    m.float(2, v.scores[i]);
    m.int(3, v.types[i]);
    w.message(1, m);
  });
  const t = new ProtoWriter();
  t.int(3, 2); // model_type: BPE
  t.int(4, v.pieces.length); // vocab_size
  t.bool(35, v.types.includes(SP_TYPE.BYTE)); // byte_fallback
  t.int(40, v.unkId);
  t.int(41, v.bosId);
  t.int(42, v.eosId);
  t.int(43, v.padId);
  w.message(2, t);
  const n = new ProtoWriter();
  n.string(1, 'identity');
  n.bool(3, v.addDummyPrefix);
  n.bool(4, false); // remove_extra_whitespaces
  n.bool(5, true); // escape_whitespaces
  w.message(3, n);
  return w.finish();
}
