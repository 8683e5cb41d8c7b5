#!/usr/bin/env bash
# Installs everything this repository needs on a fresh Debian machine with Python 3.11:
# Debian packages (espeak-ng and sox for the corpus and tests, festival for the unseen-voice
# evaluation) and a virtual environment in .venv with the pinned Python packages.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=0
for tool in espeak-ng sox festival; do command -v "$tool" >/dev/null 2>&1 || need_apt=1; done
if [ "$need_apt" = 1 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -q
  $sudo apt-get install -y -q espeak-ng libespeak-ng1 sox festival festvox-kallpc16k
fi

python=python3.11; command -v "$python" >/dev/null 2>&1 || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
echo "setup done: .venv is ready"
