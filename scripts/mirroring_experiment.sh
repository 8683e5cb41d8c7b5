#!/usr/bin/env bash
# Do the two streams read each other when only the partner tells? (issue #12) A corpus in which
# listeners also mirror the speaker's head tilt (corpus --mirroring, reactions.mirror_tilts: the
# side of a tilt is not in the audio, so only the partner's motion shows it), the shipped x0
# model fine-tuned on it twice at one budget, with and without cross-stream attention, then
# both evaluated on held-out espeak and festival conversations of the same corpus, 3 seeds;
# then the shipped v model fine-tuned alike (with off-screen voices, as it was) and each paired
# with its x0 model, as the shipped pair is. About 1 h 50 min on a 2-core CPU (corpora 8 min,
# the x0 fine-tunes side by side 40 min, the v ones 28 min, evaluations 10-15 min each).
# Results: docs/evaluation/OBJECTIVE.md, "Mirroring", and docs/evaluation/mirroring/.
# TRAIN_SEED=N repeats the fine-tunes with another training seed (batches and noise drawn anew;
# default 0, the one reported first): the intervals are over conversations, this is over trainings.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
out=${OUT:-runs/v9}
steps=${STEPS:-3000}
train_seed=${TRAIN_SEED:-0}
mkdir -p "$out"
corpus() { $py -m model_training.corpus --mirroring --workers 2 "$@"; }
corpus --out "$out/train" --conversations 300 --seed 11 --split train
corpus --out "$out/heldout" --conversations 24 --seed 12 --split heldout
corpus --out "$out/festival" --conversations 24 --seed 3 --split festival
corpus --out "$out/train_offscreen" --conversations 300 --seed 11 --split train --offscreen 0.6
scripts/train_both_arms.sh "$out/train" model_runtime/weights/default.pt "$out/finetune" \
    --window 256 --batch 12 --steps "$steps" --lr 5e-4 --seed "$train_seed"
$py -m model_training.evaluate --corpus "$out/heldout" --corpus "$out/festival" \
    --model "two_stream=$out/finetune_none.pt" --model "one_stream=$out/finetune_no_cross_stream.pt" \
    --model shipped=model_runtime/weights/default.pt --seeds 3 --compare two_stream \
    --out "$out/report" "$@"
scripts/train_both_arms.sh "$out/train_offscreen" model_runtime/weights/default_high_noise.pt "$out/v" \
    --snr-clip 0 --window 256 --batch 12 --steps 2000 --lr 5e-4 --channel-weight headPitch=8 --seed "$train_seed"
for arm in two:none one:no_cross_stream; do      # x0 + v pairs, switched as the shipped pair is
  cp "$out/finetune_${arm#*:}.pt" "$out/pair_${arm%%:*}.pt"
  printf '{"high_noise": "v_%s.pt", "switch": 0.3, "face_switch": 0.7}\n' "${arm#*:}" > "$out/pair_${arm%%:*}.experts.json"
done
$py -m model_training.evaluate --corpus "$out/heldout" --corpus "$out/festival" \
    --model "pair_two=$out/pair_two.pt" --model "pair_one=$out/pair_one.pt" \
    --model shipped=model_runtime/weights/default.pt --seeds 3 --compare pair_two \
    --out "$out/report_pairs" "$@"
$py benchmarks/lip_sync_real_speech.py --checkpoint "$out/pair_two.pt"
