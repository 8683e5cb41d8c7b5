#!/usr/bin/env bash
# Do the two streams read each other when only the partner tells? (issue #12) A corpus in which
# listeners also mirror the speaker's head tilt (corpus --mirroring, reactions.mirror_tilts: the
# side of a tilt is not in the audio, so only the partner's motion shows it), the shipped x0
# model fine-tuned on it twice at one budget, with and without cross-stream attention, then
# both evaluated on held-out espeak and festival conversations of the same corpus, 3 seeds.
# About 1 h 10 min on a 2-core CPU (corpora 4 min, the two fine-tunes side by side 40 min,
# evaluation 20 min). Results: docs/evaluation/OBJECTIVE.md, "Mirroring".
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
out=${OUT:-runs/v9}
steps=${STEPS:-3000}
mkdir -p "$out"
corpus() { $py -m model_training.corpus --mirroring --workers 2 "$@"; }
corpus --out "$out/train" --conversations 300 --seed 11 --split train
corpus --out "$out/heldout" --conversations 24 --seed 12 --split heldout
corpus --out "$out/festival" --conversations 24 --seed 3 --split festival
for ablation in none no_cross_stream; do     # one thread each, side by side
  OMP_NUM_THREADS=1 $py -m model_training.train --corpus "$out/train" --out "$out/finetune_$ablation.pt" \
      --init model_runtime/weights/default.pt --ablation "$ablation" --window 256 --batch 12 \
      --steps "$steps" --lr 5e-4 --log-every 100 > "$out/finetune_$ablation.log" 2>&1 &
done
wait
$py -m model_training.evaluate --corpus "$out/heldout" --corpus "$out/festival" \
    --model "two_stream=$out/finetune_none.pt" --model "one_stream=$out/finetune_no_cross_stream.pt" \
    --model shipped=model_runtime/weights/default.pt --seeds 3 --compare two_stream \
    --out "$out/report" "$@"
