#!/usr/bin/env bash
# The evaluation's baselines: the default architecture and each ablation trained with the same
# budget (steps, batch, data), then evaluated side by side with the shipped default weights
# and the audio-energy baseline. Needs the held-out corpora of scripts/reproduce_default_weights.sh;
# trains on the first corpus (600 conversations, seed 1), made here when it is missing.
# About 20 minutes per model at the default 3000 steps on a 2-core CPU, then ~15 for the evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
steps=${STEPS:-3000}
limit=${LIMIT:-600}     # conversations per ablation run
runs=runs/b${steps}
mkdir -p "$runs"
[ -d corpus_data/train ] || $py -m model_training.corpus --out corpus_data/train --conversations 600 --seed 1 \
    --split train --workers "${WORKERS:-2}"
for ablation in none no_cross_stream no_roles no_gaze_loss no_layout; do
  [ -n "${EVAL_ONLY:-}" ] && break      # EVAL_ONLY=1: evaluate the checkpoints already in $runs
  $py -m model_training.train --corpus corpus_data/train --out "$runs/ablation_${ablation}.pt" \
      --ablation "$ablation" --window 256 --batch 12 --steps "$steps" --limit "$limit" --log-every 200
done
$py -m model_training.evaluate --corpus corpus_data/heldout --corpus corpus_data/festival \
    --model default=model_runtime/weights/default.pt \
    --model "same_budget_default=$runs/ablation_none.pt" \
    --model "one_stream_no_cross=$runs/ablation_no_cross_stream.pt" \
    --model "no_role_embedding=$runs/ablation_no_roles.pt" \
    --model "no_gaze_loss=$runs/ablation_no_gaze_loss.pt" \
    --model "no_layout_input=$runs/ablation_no_layout.pt" \
    --compare default --compare same_budget_default \
    --real-speech ../shared/real-speech --out docs/evaluation "$@"
