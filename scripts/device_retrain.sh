#!/usr/bin/env bash
# Issue #12's retrain, as one call on a lent GPU machine (the `device` tool): the reactive corpus
# with listeners who mirror the speaker's tilt (corpus --mirroring), then the shipped pair's two
# models trained from nothing side by side with their one-stream twins (--ablation
# no_cross_stream) at one budget: x0 and v, two streams and one. Prepare here first with
# scripts/device_carry.sh, then:
#   run(command="bash scripts/device_retrain.sh", carry=[".device_carry"], timeout_s=600)
# Writes to $OUT: x0_two.pt, x0_one.pt, v_two.pt, v_one.pt (about 4 MB each) and retrain.log.
# Afterwards, on the CPU: scripts/after_device_retrain.sh FOLDER_OF_THOSE_FILES (the v models'
# off-screen fine-tune and the paired evaluation; docs/evaluation/OBJECTIVE.md, "What reading
# the partner can win", says which metrics to read).
# Settings by environment: MINUTES per training (6, less if the corpus took long),
# CONVERSATIONS (600), WORKERS (all cores), TRAIN_SEED (0), PY (python3, the image's, with CUDA
# PyTorch), CARRY (.device_carry). Checked on a 2-core CPU with MINUTES=0.15 CONVERSATIONS=4,
# under NumPy 1.26 and 2.4.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PY:-python3}
out=${OUT:?set OUT, the folder whose files come back}
carry=${CARRY:-.device_carry}
minutes=${MINUTES:-6}
conversations=${CONVERSATIONS:-600}
workers=${WORKERS:-$(nproc)}
seed=${TRAIN_SEED:-0}
work=${WORK:-/tmp/tt_retrain}
log="$out/retrain.log"
mkdir -p "$work" "$out"
exec > >(tee -a "$log") 2>&1
echo "$(date +%T) start: $($py -c 'import torch; c = torch.cuda.is_available(); print(torch.__version__, torch.cuda.get_device_name() if c else "no GPU: CPU")')"

# espeak-ng and sox in a folder of their own; of their libraries only those the image lacks,
# so that nothing else in the corpus processes runs on another library than the image's own.
root="$work/debroot"
for deb in "$carry"/debs/*.deb; do dpkg -x "$deb" "$root"; done
for lib in "$root"/lib/x86_64-linux-gnu/*.so.* "$root"/usr/lib/x86_64-linux-gnu/*.so.*; do
  [ -e "$lib" ] || continue
  if ldconfig -p | grep -q " $(basename "$lib") "; then rm -f "$lib"; fi
done
if ! $py -c "import soundfile" 2> /dev/null; then
  $py -m pip install --quiet --no-index --no-deps --target "$work/site" "$carry"/wheels/*.whl
  export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
fi
corpus_env=(env PATH="$root/usr/bin:$PATH" ESPEAK_DATA_PATH="$root/usr/lib/x86_64-linux-gnu"
            LD_LIBRARY_PATH="$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
"${corpus_env[@]}" $py -m model_training.corpus --mirroring --out "$work/train" --conversations "$conversations" \
    --seed 11 --split train --workers "$workers" > "$work/corpus.log"
echo "$(date +%T) corpus: $(ls "$work/train" | grep -c '^conv_.*\.npz$') conversations"

# Features once for all four runs, on every core, before their budgets start.
OMP_NUM_THREADS=1 $py - "$work/train" "$workers" <<'PY'
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from model_training.corpus.dataset import list_conversations
from model_training.training_data import load_training_conversation
with ProcessPoolExecutor(int(sys.argv[2])) as pool:
    list(pool.map(load_training_conversation, map(Path, list_conversations(sys.argv[1]))))
PY
echo "$(date +%T) features cached"

# The budget that is left of the call's 10 minutes (LIMIT_S, 570 s, leaves room to copy the
# files back), less 90 s for the runs to load the corpus and write their checkpoints.
minutes=$(awk -v m="$minutes" -v left=$(( ${LIMIT_S:-570} - SECONDS - 90 )) \
          'BEGIN { b = left / 60; if (b < m) m = (b > 0.5 ? b : 0.5); print m }')
echo "$(date +%T) training four runs for $minutes minutes each"

# The four runs share the GPU; the cores are split between them.
threads=$(( workers / 4 > 0 ? workers / 4 : 1 ))
common=(--corpus "$work/train" --centre-on-layout --window 256 --batch 64 --minutes "$minutes"
        --steps 1000000 --seed "$seed" --log-every 500)
train() {   # NAME FLAGS...
  local name=$1; shift
  OMP_NUM_THREADS=$threads $py -m model_training.train "${common[@]}" --out "$out/$name.pt" "$@" \
      > "$work/$name.log" 2>&1 &
}
train x0_two --ablation none
train x0_one --ablation no_cross_stream
train v_two --config v_prediction --snr-clip 0 --ablation none
train v_one --config v_prediction --snr-clip 0 --ablation no_cross_stream
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
for name in x0_two x0_one v_two v_one; do echo "== $name"; tail -n 3 "$work/$name.log"; done
echo "$(date +%T) done"
exit $failed
