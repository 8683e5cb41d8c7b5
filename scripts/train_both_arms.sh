#!/usr/bin/env bash
# One fine-tune with cross-stream attention and its twin without (one stream per person, blind
# to the partner), at the same budget, side by side on one thread each: the ablation pair of
# the interaction experiments (issue #12).
#   scripts/train_both_arms.sh CORPUS INIT OUT_PREFIX [train options...]
# writes OUT_PREFIX_none.pt and OUT_PREFIX_no_cross_stream.pt, each with its .log beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$1 init=$2 prefix=$3
shift 3
for ablation in none no_cross_stream; do
  OMP_NUM_THREADS=1 .venv/bin/python -m model_training.train --corpus "$corpus" --init "$init" \
      --ablation "$ablation" --out "${prefix}_$ablation.pt" --log-every 100 "$@" > "${prefix}_$ablation.log" 2>&1 &
done
wait
