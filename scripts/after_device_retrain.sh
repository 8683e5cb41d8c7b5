#!/usr/bin/env bash
# After scripts/device_retrain.sh (issue #12), on the CPU: the v models' off-screen fine-tune as
# the shipped one had (scripts/reproduce_default_weights.sh), each from its own GPU run, so the
# twins stay twins; then the two pairs, x0 + v with and without cross-stream attention, evaluated
# paired on held-out espeak and festival conversations where listeners mirror, beside the shipped
# pair; the room per interaction metric; lip sync on the real calls.
#   scripts/after_device_retrain.sh GPU_FOLDER     # x0_two.pt x0_one.pt v_two.pt v_one.pt
# About 1 h on a 2-core CPU (corpora 10 min, the fine-tunes side by side 35 min, evaluation 15).
# Read report/REPORT.md's "pair_two closer to people than pair_one" rows on the metrics that can
# tell a partner reader (docs/evaluation/OBJECTIVE.md, "What reading the partner can win").
# OUT (runs/retrain), STEPS (4474), SEEDS (3) and EVAL_LIMIT (all) by environment; corpora
# already in OUT are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
gpu=${1:?give the folder with the GPU runs: x0_two.pt x0_one.pt v_two.pt v_one.pt}
out=${OUT:-runs/retrain}
mkdir -p "$out"
corpus() {   # FOLDER ARGS...: made unless there
  [ -d "$out/$1" ] || $py -m model_training.corpus --mirroring --workers 2 --out "$out/$1" "${@:2}"
}
corpus train_offscreen --conversations 300 --seed 11 --split train --offscreen 0.6
corpus heldout --conversations 24 --seed 12 --split heldout
corpus festival --conversations 24 --seed 3 --split festival
for arm in two one; do
  OMP_NUM_THREADS=1 $py -m model_training.train --corpus "$out/train_offscreen" --init "$gpu/v_$arm.pt" \
      --snr-clip 0 --window 256 --batch 12 --lr 1e-3 --steps "${STEPS:-4474}" --channel-weight headPitch=8 \
      --out "$out/v_$arm.pt" > "$out/v_$arm.log" 2>&1 &
done
for job in $(jobs -p); do wait "$job"; done
for arm in two one; do      # each x0 model with its v model, switched as the shipped pair is
  cp "$gpu/x0_$arm.pt" "$out/pair_$arm.pt"
  printf '{"high_noise": "v_%s.pt", "switch": 0.3, "face_switch": 0.7}\n' "$arm" > "$out/pair_$arm.experts.json"
done
$py -m model_training.evaluate --corpus "$out/heldout" --corpus "$out/festival" \
    --model "pair_two=$out/pair_two.pt" --model "pair_one=$out/pair_one.pt" \
    --model shipped=model_runtime/weights/default.pt --seeds "${SEEDS:-3}" ${EVAL_LIMIT:+--limit "$EVAL_LIMIT"} \
    --compare pair_two --out "$out/report"
$py -m model_training.partner_share --interaction --corpus "$out/heldout" --corpus "$out/festival" > "$out/headroom.md"
$py benchmarks/lip_sync_real_speech.py --seeds "${SEEDS:-3}" --checkpoint "$out/pair_two.pt" > "$out/lip_sync.md"
echo "wrote $out/report/REPORT.md, $out/headroom.md, $out/lip_sync.md"
