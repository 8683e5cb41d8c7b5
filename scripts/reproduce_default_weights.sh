#!/usr/bin/env bash
# Reproduces the shipped default weights and their evaluation report from nothing:
# a fresh synthetic corpus (espeak-ng voices; festival only for evaluation), training, evaluation.
# On a 2-core CPU: corpus ~15 min, training as long as --minutes / --steps say, evaluation ~10 min.
# Pass extra training flags after the script name, e.g. --steps 3000 (the default run's count is
# recorded in the checkpoint: `python -m model_runtime info`).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
workers=${WORKERS:-2}
$py -m model_training.corpus --out corpus_data/train --conversations 600 --seed 1 --split train --workers "$workers"
$py -m model_training.corpus --out corpus_data/heldout --conversations 40 --seed 2 --split heldout --workers "$workers"
$py -m model_training.corpus --out corpus_data/festival --conversations 30 --seed 3 --split festival --workers "$workers"
$py -m model_training.train --corpus corpus_data/train --out model_runtime/weights/default.pt \
    --window 256 --batch 12 "$@"
# The high-noise expert (model_runtime/experts.py, docs/evaluation/OBJECTIVE.md): a v model on
# the corpus where listeners react, sampled for the steps above t = 0.3
# (model_runtime/weights/default.experts.json). 5,000 steps, then 4,313 more at half the rate
# (the shipped run stopped there by --minutes 33); about 75 minutes on a 2-core CPU.
$py -m model_training.corpus --out corpus_data/reactive --conversations 300 --seed 11 --split train --workers "$workers"
$py -m model_training.train --corpus corpus_data/reactive --out runs/high_noise_first.pt --config v_prediction \
    --snr-clip 0 --steps 5000 --window 256 --batch 12
$py -m model_training.train --corpus corpus_data/reactive --out model_runtime/weights/default_high_noise.pt \
    --init runs/high_noise_first.pt --snr-clip 0 --steps 4313 --lr 1e-3 --window 256 --batch 12
$py -m model_training.evaluate --corpus corpus_data/heldout --corpus corpus_data/festival \
    --model default=model_runtime/weights/default.pt --real-speech ../shared/real-speech --out docs/evaluation
