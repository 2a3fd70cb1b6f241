#!/usr/bin/env bash
# Reproduces models/kjv-word2vec: skip-gram word2vec vectors of the King James Bible (vectors.bin) and
# their corpus counts (vocab.txt, read by the SIF sentence embedder), trained by
# `glasslm word2vec train` with word2vec.c's defaults (dim 100, window 5, negative 5, sample 1e-3,
# min-count 5, 5 epochs) on one thread with seed 1, so the same build writes the same bytes.
# The corpus: Debian's bible-kjv (`apt-get install -y bible-kjv`), dumped by its `bible` command, verse
# references dropped, lower-cased, everything but letters and apostrophes made a space, one verse per line
# (the same text bench/word2vec.ts trains on).
# Needs: npm run build.
# Usage: scripts/train-word2vec-kjv.sh [workdir]   (default workdir: /tmp/glasslm-kjv)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-/tmp/glasslm-kjv}"
mkdir -p "$WORK" models/kjv-word2vec
bible -f gen1:1-rev22:21 |
  sed -E 's/^[^ ]*[0-9]+:[0-9]+ //' | tr 'A-Z' 'a-z' |
  sed -E "s/[^a-z' ]+/ /g; s/ +/ /g; s/^ //; s/ $//; /^$/d" >"$WORK/kjv.txt"
wc -lw "$WORK/kjv.txt"
node bin/glasslm.js word2vec train --data "$WORK/kjv.txt" --out models/kjv-word2vec/vectors.bin \
  --dim 100 --window 5 --negative 5 --sample 1e-3 --min-count 5 --epochs 5 --threads 1 --seed 1 \
  --save-vocab models/kjv-word2vec/vocab.txt
# SIF's common component (models/kjv-word2vec/config.json remove_component), from the same verses
npx tsx scripts/sif-component.ts models/kjv-word2vec "$WORK/kjv.txt"
node bin/glasslm.js word2vec eval --vectors models/kjv-word2vec/vectors.bin --analogies bench/data/kjv-analogies.txt
for w in god david jerusalem sword; do
  echo "nearest $w:"
  node bin/glasslm.js word2vec nearest --vectors models/kjv-word2vec/vectors.bin -k 5 "$w"
done
echo "analogy king man woman:"
node bin/glasslm.js word2vec analogy --vectors models/kjv-word2vec/vectors.bin king man woman
echo "models/kjv-word2vec/vectors.bin written; update models/kjv-word2vec/README.md with the numbers above"
