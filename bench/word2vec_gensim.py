#!/usr/bin/python3
"""The gensim side of bench/word2vec.ts: Word2Vec on the same corpus with the same settings and workers,
timed the same way (building the vocabulary and training, from the corpus file to trained vectors).

Run with Debian's /usr/bin/python3 (python3-gensim installs there). Saves the vectors in the word2vec binary
format (--out) for bench/word2vec.ts to score with the same analogy code as glasslm's; the last stdout line
is JSON. Exits with status 3 and prints {"gensim": null} when gensim cannot be imported.

    /usr/bin/python3 bench/word2vec_gensim.py --corpus c.txt --out v.bin --threads 2 --seed 1 \
        [--dim 100 --window 5 --negative 5 --sample 1e-3 --min-count 5 --epochs 5 --alpha 0.025]
"""

import argparse
import json
import sys
import time

try:
    import gensim
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence, FAST_VERSION
except ImportError:
    print(json.dumps({"gensim": None}))
    sys.exit(3)

p = argparse.ArgumentParser()
p.add_argument("--corpus", required=True)
p.add_argument("--out", required=True)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--dim", type=int, default=100)
p.add_argument("--window", type=int, default=5)
p.add_argument("--negative", type=int, default=5)
p.add_argument("--sample", type=float, default=1e-3)
p.add_argument("--min-count", type=int, default=5)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--alpha", type=float, default=0.025)
a = p.parse_args()

start = time.perf_counter()
cpu = time.process_time()
model = Word2Vec(
    LineSentence(a.corpus),
    vector_size=a.dim,
    window=a.window,
    negative=a.negative,
    hs=0,
    sg=1,
    sample=a.sample,
    min_count=a.min_count,
    epochs=a.epochs,
    alpha=a.alpha,
    min_alpha=0.0001,
    workers=a.threads,
    seed=a.seed,
)
seconds = time.perf_counter() - start
cpu_seconds = time.process_time() - cpu
model.wv.save_word2vec_format(a.out, binary=True)
print(
    json.dumps(
        {
            "version": gensim.__version__,
            "fastVersion": FAST_VERSION,
            "seconds": seconds,
            "cpuSeconds": cpu_seconds,
            "corpusWords": model.corpus_total_words,
            "vocab": len(model.wv),
        }
    )
)
