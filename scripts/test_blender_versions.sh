#!/usr/bin/env bash
# The add-on tests on the other Blender versions the manifest promises (4.2 LTS and 4.5 LTS;
# 5.0 is the main suite's bpy). Each version gets a small venv holding only its bpy wheel; the
# rest (PyTorch, numpy, pytest, ...) comes from .venv through a .pth file, so nothing else is
# installed twice. Run after ./setup.sh; CI runs it after the main suite.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSIONS=("4.2.23" "4.5.15")
main_site=$(.venv/bin/python -c "import site; print(site.getsitepackages()[0])")
python=python3.11; command -v "$python" >/dev/null 2>&1 || python=python3

for version in "${VERSIONS[@]}"; do
  venv=".venv-bpy-${version}"
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "bpy==${version}"
    site=$("$venv/bin/python" -c "import site; print(site.getsitepackages()[0])")
    echo "$main_site" > "$site/main_venv.pth"     # after this venv's own bpy on sys.path
  fi
  echo "== add-on tests on Blender $("$venv/bin/python" -c 'import bpy; print(bpy.app.version_string)')"
  "$venv/bin/python" -m pytest -q -n auto -p no:cacheprovider tests/addon
done
