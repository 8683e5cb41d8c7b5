#!/usr/bin/env bash
# Does reading the partner pay off? (issue #12) A corpus in which the listener answers the
# speaker's glances (model_training/corpus/reactions.py), the shipped weights fine-tuned on it
# twice at the same budget: with cross-stream attention (two streams reading each other) and
# without (one stream per person, blind to the partner), then both evaluated with the shipped
# weights on held-out conversations of the new corpus and the old held-out sets, 3 seeds.
# About 45 minutes on a 2-core CPU (corpus 3 min, the two fine-tunes side by side 17 min,
# evaluation 20 min). Results: docs/evaluation/V2_EXPERIMENT.md.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
out=${OUT:-runs/v2}
steps=${STEPS:-2000}
mkdir -p "$out"
$py -m model_training.corpus --out "$out/train" --conversations 300 --seed 11 --split train --workers 2
$py -m model_training.corpus --out "$out/heldout" --conversations 24 --seed 12 --split heldout --workers 2
scripts/train_both_arms.sh "$out/train" model_runtime/weights/default.pt "$out/finetune" \
    --window 256 --batch 12 --steps "$steps" --lr 5e-4
$py -m model_training.evaluate --corpus "$out/heldout" --corpus corpus_data/heldout --corpus corpus_data/festival \
    --model "two_stream=$out/finetune_none.pt" --model "one_stream=$out/finetune_no_cross_stream.pt" \
    --model shipped_default=model_runtime/weights/default.pt --seeds 3 --compare two_stream \
    --out "$out/report" "$@"
