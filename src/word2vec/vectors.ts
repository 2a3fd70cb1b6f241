// A set of static word vectors: one fixed vector per word (word2vec, GloVe), rows in file order — for
// files written by word2vec.c, gensim or glasslm that is count descending, so the first N rows are the N
// most frequent words.

export interface WordVectors {
  words: string[];
  dim: number;
  /** Row i = words[i]'s vector, words.length × dim. */
  vectors: Float32Array;
  /** Corpus counts, when known (trained here; vectors files do not store them). */
  counts?: number[];
}
