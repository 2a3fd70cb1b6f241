#!/usr/bin/env bash
# Reproduces models/dates-iso: a small encoder-decoder that writes dates in words as ISO dates
# ("the third of March 1998" → "1998-03-03"), trained by `glasslm train --arch seq2seq` on the pairs of
# scripts/make-dates.mjs, then scored on the held-out test split by scripts/eval-dates.mjs.
# Needs: npm run build.
# Usage: scripts/train-dates-model.sh [workdir]   (default workdir: /tmp/glasslm-dates)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-/tmp/glasslm-dates}"
mkdir -p "$WORK"
node scripts/make-dates.mjs "$WORK/dates"
node bin/glasslm.js train --arch seq2seq --pairs "$WORK/dates/pairs.tsv" --out "$WORK/run" \
  --layers 2 --heads 4 --dim 96 --context 32 --vocab 512 \
  --steps 1500 --batch 32 --lr 1e-3 --seed 1 --eval-every 100 --checkpoint-every 500 ${RESUME:+--resume}
mkdir -p models/dates-iso
cp "$WORK/run/config.json" "$WORK/run/model.safetensors" "$WORK/run/tokenizer.json" \
  "$WORK/run/generation_config.json" "$WORK/run/loss.svg" models/dates-iso/
grep '"val_loss"' "$WORK/run/metrics.jsonl" | tail -n 1
node scripts/eval-dates.mjs --model models/dates-iso
echo "models/dates-iso written; update models/dates-iso/README.md with the numbers above"
