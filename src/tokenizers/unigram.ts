// Stage 1 — SentencePiece unigram models (the .spm files of Marian / opus-mt), done the way
// SentencePiece's C++ library does it, so that the pieces come out identical:
//
// 1. Normalise (normalizer.cc): the precompiled character map (a Darts double-array trie over UTF-8
//    bytes, e.g. nmt_nfkc) replaces the longest matching prefix at each position; leading, trailing
//    and repeated spaces are dropped (remove_extra_whitespaces); a '▁' goes in front
//    (add_dummy_prefix); spaces become '▁' (escape_whitespaces).
// 2. Viterbi (unigram_model.cc EncodeOptimized): the best-scoring segmentation into vocabulary pieces
//    (normal and user-defined; unused ones are skipped), with SentencePiece's arithmetic: each
//    candidate is a double (float path score + piece score) compared with the best so far stored as
//    a float — it decides near-ties; a character no piece starts with is the unknown piece, scored
//    min score − 10 (a float sum).
// 3. A run of adjacent unknown pieces is merged into one (as SentencePieceProcessor::Encode does);
//    its piece text is the normalised surface, not "<unk>".
//
// This file only reads what encoding needs: pieces (text, score, type), trainer_spec.model_type and
// the normaliser settings. Only unigram models load here; BPE models go through sentencepiece-load.ts.

import { GlassError } from '../util/errors.js';
import { encodeUtf8, utf8Decoder, wellFormed } from './common.js';
import { PieceType, SPACE_SYMBOL } from './sentencepiece.js';

/** One encoded piece: its text, id in the .spm vocabulary, and the UTF-8 byte span of the input. */
export interface UnigramPiece {
  piece: string;
  id: number;
  start: number;
  end: number;
}

interface Normalizer {
  name: string;
  charsmap: Uint8Array | null;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

/** The parts of a SentencePiece ModelProto that unigram encoding needs. */
export interface UnigramModelProto {
  pieces: string[];
  scores: Float32Array;
  types: Uint8Array;
  modelType: number;
  treatWhitespaceAsSuffix: boolean;
  normalizer: Normalizer;
}

// ---------------------------------------------------------------------------------------------
// A minimal protobuf reader (ModelProto: 1 pieces {1 piece, 2 score, 3 type}, 2 trainer_spec
// {3 model_type, 24 treat_whitespace_as_suffix}, 3 normalizer_spec {1 name, 2 precompiled_charsmap,
// 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces}).

type Field = { field: number; wire: number; value: number; bytes: Uint8Array | null };

function* fields(buf: Uint8Array, name: string): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new GlassError('BAD_FILE', `${name}: truncated protobuf varint`);
      const b = buf[pos++];
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return result;
    }
    throw new GlassError('BAD_FILE', `${name}: protobuf varint longer than 10 bytes`);
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint(), bytes: null };
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > buf.length) throw new GlassError('BAD_FILE', `${name}: truncated protobuf field`);
      yield { field, wire, value: 0, bytes: buf.subarray(pos, pos + n) };
      pos += n;
    } else if (wire === 2) {
      const n = varint();
      if (pos + n > buf.length) throw new GlassError('BAD_FILE', `${name}: truncated protobuf field`);
      yield { field, wire, value: 0, bytes: buf.subarray(pos, pos + n) };
      pos += n;
    } else throw new GlassError('BAD_FILE', `${name}: unsupported protobuf wire type ${wire}`);
  }
}

const f32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);

/** Reads a SentencePiece .model / .spm protobuf (any model type; the caller checks). */
export function parseSentencePieceProto(bytes: Uint8Array, name: string): UnigramModelProto {
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  let modelType = 1; // unigram is the default
  let treatWhitespaceAsSuffix = false;
  const normalizer: Normalizer = {
    name: '',
    charsmap: null,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  for (const f of fields(bytes, name)) {
    if (f.field === 1 && f.bytes) {
      let piece: string | undefined;
      let score = 0;
      let type = PieceType.NORMAL as number;
      for (const g of fields(f.bytes, name)) {
        if (g.field === 1 && g.bytes) piece = utf8Decoder.decode(g.bytes);
        else if (g.field === 2 && g.bytes && g.wire === 5) score = f32(g.bytes);
        else if (g.field === 3 && g.wire === 0) type = g.value;
      }
      if (piece === undefined)
        throw new GlassError('BAD_FILE', `${name}: piece ${pieces.length} has no piece string`);
      pieces.push(piece);
      scores.push(score);
      types.push(type);
    } else if (f.field === 2 && f.bytes) {
      for (const g of fields(f.bytes, name)) {
        if (g.field === 3 && g.wire === 0) modelType = g.value;
        else if (g.field === 24 && g.wire === 0) treatWhitespaceAsSuffix = g.value !== 0;
      }
    } else if (f.field === 3 && f.bytes) {
      for (const g of fields(f.bytes, name)) {
        if (g.field === 1 && g.bytes) normalizer.name = utf8Decoder.decode(g.bytes);
        else if (g.field === 2 && g.bytes) normalizer.charsmap = g.bytes.length > 0 ? g.bytes : null;
        else if (g.field === 3 && g.wire === 0) normalizer.addDummyPrefix = g.value !== 0;
        else if (g.field === 4 && g.wire === 0) normalizer.removeExtraWhitespaces = g.value !== 0;
        else if (g.field === 5 && g.wire === 0) normalizer.escapeWhitespaces = g.value !== 0;
      }
    }
  }
  if (pieces.length === 0)
    throw new GlassError('BAD_FILE', `${name}: no pieces (not a SentencePiece model?)`);
  return {
    pieces,
    scores: Float32Array.from(scores),
    types: Uint8Array.from(types),
    modelType,
    treatWhitespaceAsSuffix,
    normalizer,
  };
}

// ---------------------------------------------------------------------------------------------
// The precompiled character map: uint32 trie size, a Darts double array of that many bytes, then
// NUL-terminated replacement strings the trie's values point into.

class CharsMap {
  private readonly units: Uint32Array;
  private readonly strings: Uint8Array;

  constructor(blob: Uint8Array, name: string) {
    if (blob.length < 4) throw new GlassError('BAD_FILE', `${name}: precompiled_charsmap is truncated`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.length);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length)
      throw new GlassError('BAD_FILE', `${name}: precompiled_charsmap has a bad trie size ${trieSize}`);
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.strings = blob.subarray(4 + trieSize);
  }

  /** The longest rule matching bytes[pos..end): [length, replacement bytes], or null. */
  match(bytes: Uint8Array, pos: number, end: number): [number, Uint8Array] | null {
    const u = this.units;
    if (u.length === 0) return null;
    const offset = (x: number): number => (x >>> 10) << ((x & (1 << 9)) >>> 6);
    let node = offset(u[0]);
    let bestLen = 0;
    let bestValue = 0;
    for (let i = pos; i < end; i++) {
      const c = bytes[i];
      node ^= c;
      if (node >= u.length) break;
      const unit = u[node];
      // label(): the byte this unit is reached by (bit 31 set for value units, never equal to c).
      if ((unit & 0x800000ff) >>> 0 !== c) break;
      node ^= offset(unit);
      if ((unit >>> 8) & 1) {
        if (node >= u.length) break;
        bestLen = i + 1 - pos;
        bestValue = u[node] & 0x7fffffff;
      }
    }
    if (bestLen === 0) return null;
    let e = bestValue;
    while (e < this.strings.length && this.strings[e] !== 0) e++;
    return [bestLen, this.strings.subarray(bestValue, e)];
  }
}

/** Byte length of the UTF-8 character starting with byte b (1 for a stray continuation byte). */
function charLen(b: number): number {
  return b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
}

const SPACE_BYTES = encodeUtf8(SPACE_SYMBOL);

export class UnigramModel {
  readonly name: string;
  readonly pieces: readonly string[];
  readonly unk: number;
  private readonly scores: Float32Array;
  private readonly types: Uint8Array;
  private readonly normalizerSpec: Normalizer;
  private readonly charsmap: CharsMap | null;
  /** Pieces a segmentation may use (normal, user-defined), by text. */
  private readonly lookup = new Map<string, number>();
  private readonly pieceToIdMap = new Map<string, number>();
  /** Every proper prefix of a piece in `lookup`: the search from a position stops at the first miss. */
  private readonly prefixes = new Set<string>();
  private readonly maxPieceChars: number;
  private readonly unkScore: number;
  private readonly maxScore: number;

  constructor(proto: UnigramModelProto, name: string) {
    this.name = name;
    if (proto.modelType !== 1)
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: not a unigram SentencePiece model (model_type ${proto.modelType})`,
      );
    if (proto.treatWhitespaceAsSuffix)
      throw new GlassError('UNSUPPORTED', `${name}: treat_whitespace_as_suffix is not supported`);
    this.pieces = proto.pieces;
    this.scores = proto.scores;
    this.types = proto.types;
    this.normalizerSpec = proto.normalizer;
    this.charsmap = proto.normalizer.charsmap ? new CharsMap(proto.normalizer.charsmap, name) : null;
    let unk = -1;
    let minScore = Infinity;
    // SentencePiece starts max_score_ at FLT_MIN (the smallest positive float), not at -FLT_MAX.
    let maxScore = 1.1754943508222875e-38;
    let maxChars = 1;
    for (let i = 0; i < proto.pieces.length; i++) {
      const t = proto.types[i];
      const p = proto.pieces[i];
      if (!this.pieceToIdMap.has(p)) this.pieceToIdMap.set(p, i);
      if (t === PieceType.UNKNOWN && unk < 0) unk = i;
      if (t === PieceType.NORMAL || t === PieceType.USER_DEFINED) {
        this.lookup.set(p, i);
        maxChars = Math.max(maxChars, p.length);
        for (let k = 1; k < p.length; k++) this.prefixes.add(p.slice(0, k));
      }
      if (t === PieceType.NORMAL) {
        minScore = Math.min(minScore, proto.scores[i]);
        maxScore = Math.max(maxScore, proto.scores[i]);
      }
    }
    if (unk < 0) throw new GlassError('BAD_FILE', `${name}: the model has no unknown piece`);
    this.unk = unk;
    this.maxPieceChars = maxChars;
    this.unkScore = Math.fround((minScore === Infinity ? 0 : minScore) - 10);
    this.maxScore = maxScore;
  }

  pieceToId(piece: string): number | undefined {
    return this.pieceToIdMap.get(piece);
  }

  isControl(id: number): boolean {
    return this.types[id] === PieceType.CONTROL;
  }

  /**
   * SentencePiece's normaliser: the normalised text as UTF-8 bytes, and for each of its bytes (plus
   * one past the end) the input byte offset it comes from.
   */
  normalize(input: Uint8Array): { bytes: Uint8Array; orig: Int32Array } {
    const spec = this.normalizerSpec;
    const out: number[] = [];
    const orig: number[] = [];
    const prefix = (pos: number): [number, Uint8Array] => {
      const m = this.charsmap?.match(input, pos, input.length) ?? null;
      if (m) return m;
      const n = Math.min(charLen(input[pos]), input.length - pos);
      return [n, input.subarray(pos, pos + n)];
    };
    let pos = 0;
    if (spec.removeExtraWhitespaces) {
      while (pos < input.length) {
        const [n, rep] = prefix(pos);
        if (!(rep.length === 1 && rep[0] === 0x20)) break;
        pos += n;
      }
    }
    if (pos >= input.length) return { bytes: new Uint8Array(0), orig: Int32Array.of(input.length) };
    const put = (b: number, from: number): void => {
      out.push(b);
      orig.push(from);
    };
    if (spec.addDummyPrefix) for (const b of SPACE_BYTES) put(b, pos);
    let prevSpace = spec.removeExtraWhitespaces;
    while (pos < input.length) {
      const [n, rep] = prefix(pos);
      let s = 0;
      if (prevSpace) while (s < rep.length && rep[s] === 0x20) s++;
      if (s < rep.length) {
        for (let k = s; k < rep.length; k++) {
          if (spec.escapeWhitespaces && rep[k] === 0x20) for (const b of SPACE_BYTES) put(b, pos);
          else put(rep[k], pos);
        }
        prevSpace = rep[rep.length - 1] === 0x20;
      }
      pos += n;
      if (!spec.removeExtraWhitespaces) prevSpace = false;
    }
    if (spec.removeExtraWhitespaces) {
      const sp = spec.escapeWhitespaces ? SPACE_BYTES : Uint8Array.of(0x20);
      const endsWithSpace = (): boolean =>
        out.length >= sp.length && sp.every((b, k) => out[out.length - sp.length + k] === b);
      while (endsWithSpace()) {
        out.length -= sp.length;
        orig.length -= sp.length;
      }
    }
    // The end maps to the input consumed up to the last kept byte's chunk end.
    let endOrig = input.length;
    if (orig.length > 0) {
      // A trailing run of dropped spaces maps to where it started.
      const last = orig[orig.length - 1];
      endOrig = last + prefix(last)[0];
    }
    orig.push(endOrig);
    return { bytes: Uint8Array.from(out), orig: Int32Array.from(orig) };
  }

  /** The pieces of a text (SentencePieceProcessor.encode_as_pieces), with input byte spans. */
  encode(text: string): UnigramPiece[] {
    const input = encodeUtf8(wellFormed(text));
    const { bytes, orig } = this.normalize(input);
    const norm = utf8Decoder.decode(bytes);
    // Character positions: chars[i] = UTF-16 index of char i; byteAt[i] = its byte offset.
    const cps = [...norm];
    const n = cps.length;
    const idx = new Int32Array(n + 1);
    const byteAt = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      idx[i + 1] = idx[i] + cps[i].length;
      const cp = cps[i].codePointAt(0)!;
      byteAt[i + 1] = byteAt[i] + (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
    }
    const best = new Float32Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1).fill(-1);
    for (let s = 0; s < n; s++) {
      if (s > 0 && from[s] < 0) continue;
      const here = best[s];
      let single = false;
      const limit = Math.min(n, s + this.maxPieceChars);
      for (let e = s + 1; e <= limit; e++) {
        const sub = norm.slice(idx[s], idx[e]);
        const id = this.lookup.get(sub);
        if (id === undefined) {
          if (!this.prefixes.has(sub)) break;
          continue;
        }
        const len = byteAt[e] - byteAt[s];
        // As in SentencePiece, where `score` is a double (the user-defined branch makes the
        // conditional's type double): the candidate is a double compared with the float stored.
        const score =
          this.types[id] === PieceType.USER_DEFINED
            ? Math.fround(len * this.maxScore) - 0.1
            : this.scores[id];
        const cand = score + here;
        if (from[e] < 0 || cand > best[e]) {
          best[e] = cand;
          from[e] = s;
          ids[e] = id;
        }
        if (e === s + 1) single = true;
      }
      if (!single) {
        const cand = Math.fround(this.unkScore + here);
        if (from[s + 1] < 0 || cand > best[s + 1]) {
          best[s + 1] = cand;
          from[s + 1] = s;
          ids[s + 1] = this.unk;
        }
      }
    }
    const rev: [number, number, number][] = [];
    for (let e = n; e > 0; e = from[e]) rev.push([from[e], e, ids[e]]);
    rev.reverse();
    const out: UnigramPiece[] = [];
    for (const [s, e, id] of rev) {
      const piece = norm.slice(idx[s], idx[e]);
      const start = orig[byteAt[s]];
      const end = orig[byteAt[e]];
      const prev = out[out.length - 1];
      if (id === this.unk && prev !== undefined && prev.id === this.unk) {
        prev.piece += piece;
        prev.end = end;
      } else out.push({ piece, id, start, end });
    }
    return out;
  }
}

/** Loads a unigram SentencePiece model file (.spm / .model). */
export function loadUnigramModel(bytes: Uint8Array, name: string): UnigramModel {
  return new UnigramModel(parseSentencePieceProto(bytes, name), name);
}

// ---------------------------------------------------------------------------------------------
// The same model from a Hugging Face tokenizer.json (T5, Flan-T5: model.type "Unigram").

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON object's "type", or the pieces of a "Sequence" (normalizers / pretokenizers), flattened. */
function stages(v: unknown, list: 'normalizers' | 'pretokenizers'): Record<string, unknown>[] {
  if (v === null || v === undefined) return [];
  if (!isRecord(v)) return [{ type: String(v) }];
  if (v.type === 'Sequence' && Array.isArray(v[list]))
    return (v[list] as unknown[]).flatMap((s) => stages(s, list));
  return [v];
}

/**
 * A tokenizer.json Unigram model as SentencePiece's: model.vocab is [piece, score] pairs (the id is the
 * index), model.unk_id the unknown piece; `controlIds` (the special added tokens: `<pad>`, `</s>`) are
 * control pieces, never produced from text. The normaliser and pre-tokenizer map onto SentencePiece's
 * normaliser spec:
 *   Precompiled (precompiled_charsmap, base64)   → the character map (nmt_nfkc in T5's)
 *   Replace " {2,}" → " " / WhitespaceSplit       → remove_extra_whitespaces
 *   Strip + Replace " {2,}" → "▁"                 → remove_extra_whitespaces (newer transformers'
 *                                                   SpmConverter: a run of spaces becomes one '▁', the
 *                                                   Metaspace split drops it, trailing ones are stripped)
 *   Metaspace (replacement "▁", add_prefix_space or prepend_scheme "always"/"first") → escape_whitespaces
 *                                                   and add_dummy_prefix
 * Anything else is refused by name (it would change the pieces).
 */
export function unigramModelFromJson(
  json: Record<string, unknown>,
  controlIds: ReadonlySet<number>,
  name: string,
): UnigramModel {
  const model = json.model;
  if (!isRecord(model) || !Array.isArray(model.vocab))
    throw new GlassError('BAD_FILE', `${name}: model.vocab is not a list of [piece, score] pairs`);
  const vocab = model.vocab as unknown[];
  const pieces: string[] = [];
  const scores = new Float32Array(vocab.length);
  const types = new Uint8Array(vocab.length).fill(PieceType.NORMAL);
  vocab.forEach((e, i) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number')
      throw new GlassError('BAD_FILE', `${name}: model.vocab[${i}] is not a [piece, score] pair`);
    pieces.push(e[0]);
    scores[i] = e[1];
    if (controlIds.has(i)) types[i] = PieceType.CONTROL;
  });
  const unk = model.unk_id;
  if (!(Number.isInteger(unk) && (unk as number) >= 0 && (unk as number) < pieces.length))
    throw new GlassError('BAD_FILE', `${name}: model.unk_id ${String(unk)} is not a piece of model.vocab`);
  types[unk as number] = PieceType.UNKNOWN;
  if (model.byte_fallback === true)
    throw new GlassError('UNSUPPORTED', `${name}: a Unigram model with byte_fallback is not supported yet`);

  const normalizer: Normalizer = {
    name: 'tokenizer.json',
    charsmap: null,
    addDummyPrefix: false,
    removeExtraWhitespaces: false,
    escapeWhitespaces: false,
  };
  let strip = false;
  for (const s of stages(json.normalizer, 'normalizers')) {
    if (s.type === 'Precompiled' && typeof s.precompiled_charsmap === 'string') {
      const raw = atob(s.precompiled_charsmap);
      normalizer.charsmap = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    } else if (
      s.type === 'Replace' &&
      isRecord(s.pattern) &&
      s.pattern.Regex === ' {2,}' &&
      (s.content === ' ' || s.content === SPACE_SYMBOL)
    )
      normalizer.removeExtraWhitespaces = true;
    else if (s.type === 'Strip')
      strip = true; // with the Replace: what remove_extra_whitespaces drops
    else
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: normalizer ${JSON.stringify(s.type)} is not supported with Unigram`,
      );
  }
  if (strip && !normalizer.removeExtraWhitespaces)
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: normalizer "Strip" without Replace(" {2,}") is not supported with Unigram`,
    );
  let metaspace = false;
  for (const s of stages(json.pre_tokenizer, 'pretokenizers')) {
    if (s.type === 'WhitespaceSplit') normalizer.removeExtraWhitespaces = true;
    else if (s.type === 'Metaspace' && (s.replacement ?? SPACE_SYMBOL) === SPACE_SYMBOL) {
      metaspace = true;
      const scheme = s.prepend_scheme ?? (s.add_prefix_space === false ? 'never' : 'always');
      if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never')
        throw new GlassError('UNSUPPORTED', `${name}: Metaspace prepend_scheme ${JSON.stringify(scheme)}`);
      normalizer.addDummyPrefix = scheme !== 'never';
    } else
      throw new GlassError(
        'UNSUPPORTED',
        `${name}: pre_tokenizer ${JSON.stringify(s.type)} is not supported with Unigram`,
      );
  }
  if (!metaspace)
    throw new GlassError(
      'UNSUPPORTED',
      `${name}: a Unigram tokenizer.json without a Metaspace pre-tokenizer`,
    );
  normalizer.escapeWhitespaces = true;
  return new UnigramModel(
    { pieces, scores, types, modelType: 1, treatWhitespaceAsSuffix: false, normalizer },
    name,
  );
}
