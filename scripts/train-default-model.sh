#!/usr/bin/env bash
# Reproduces models/default: the bundled model that `glasslm generate "..."` uses with no --model.
# Corpus: the King James Bible from Debian's bible-kjv-text package (public domain), verse references
# stripped, one verse per line. Needs: apt-get install bible-kjv; npm run build.
# Usage: scripts/train-default-model.sh [workdir]   (default workdir: /tmp/glasslm-default)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-/tmp/glasslm-default}"
STEPS="${STEPS:-3000}"
THREADS="${THREADS:-2}"
mkdir -p "$WORK"
command -v bible >/dev/null || { echo "needs the bible program: apt-get install bible-kjv" >&2; exit 1; }
bible -f Gen1:1-Rev22:21 | sed -E 's/^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ //' > "$WORK/kjv.txt"
echo "corpus: $(wc -c < "$WORK/kjv.txt") bytes, $(wc -l < "$WORK/kjv.txt") verses"
node bin/glasslm.js train --data "$WORK/kjv.txt" --out "$WORK/run" \
  --layers 4 --heads 4 --dim 128 --context 256 --vocab 2048 \
  --steps "$STEPS" --batch 8 --lr 1e-3 --seed 1 --eval-every 100 --checkpoint-every 500 \
  --threads "$THREADS" ${RESUME:+--resume}
mkdir -p models/default
cp "$WORK/run/config.json" "$WORK/run/model.safetensors" "$WORK/run/tokenizer.json" models/default/
cp "$WORK/run/loss.svg" models/default/loss.svg
# Sampling defaults for `glasslm generate` with this model (a small model reads better a little cooler).
printf '{\n  "do_sample": true,\n  "temperature": 0.8,\n  "top_k": 40,\n  "bos_token_id": 2047,\n  "eos_token_id": 2047\n}\n' \
  > models/default/generation_config.json
grep '"val_loss"' "$WORK/run/metrics.jsonl" | tail -n 1
echo "models/default written; update models/default/README.md with the final losses above"
