#!/usr/bin/env bash
# Makes .device_carry/ here, on a machine that reaches Debian's and PyPI's packages: what a lent
# GPU machine (the `device` tool; nothing can be fetched there) lacks to build the training
# corpus. espeak-ng and sox with every library they load, as .deb files that
# scripts/device_retrain.sh unpacks into a folder of their own there (never into /); and
# soundfile with cffi for that machine's Python 3.12, as wheels.
#   scripts/device_carry.sh        # then: device run ... carry [".device_carry"]
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.device_carry
rm -rf "$dest" && mkdir -p "$dest/debs" "$dest/wheels"
# The programs, then the packages of every shared library they load here (ldd), bar the C
# library and the compiler's runtime, which every image has.
debs=(espeak-ng espeak-ng-data libespeak-ng1 sox libsox3 libsox-fmt-base)
for bin in /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1 "$(command -v sox)" \
           /usr/lib/x86_64-linux-gnu/sox/libsox_fmt_*.so; do
  for lib in $(ldd "$bin" | awk '$3 ~ /^\// {print $3}'); do
    owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")")
    debs+=("$(echo "$owner" | head -1 | cut -d: -f1)")
  done
done
keep=$(printf '%s\n' "${debs[@]}" | grep -v -E '^(libc6|libgcc-s1|libstdc\+\+6)$' | sort -u)
(cd "$dest/debs" && apt-get download $keep > /dev/null)
.venv/bin/python -m pip download --quiet --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --no-deps -d "$dest/wheels" \
    soundfile==0.14.0 cffi pycparser
echo "$dest: $(ls "$dest/debs" | wc -l) packages, $(ls "$dest/wheels" | wc -l) wheels, $(du -sh "$dest" | cut -f1)"
