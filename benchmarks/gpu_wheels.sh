#!/usr/bin/env bash
# The wheels the device machine lacks for benchmarks/gpu_suite.py (it has torch, transformers, accelerate, peft,
# scikit-learn, pandas, pyarrow, typer, einops, jaxtyping...: ../.library/device/KINDS.md), at the versions this
# checkout's .venv runs, for its Python 3.12 on x86-64. Writes .whl/ (ignored by git; carry it in the device call).
#   bash benchmarks/gpu_wheels.sh [DIR]     then check: du -sh .whl (the device call carries at most 64 MiB)
set -euo pipefail
DIR=${1:-.whl}
PY=${PY:-.venv/bin/python}
NAMES="transformer-lens datasets dill multiprocess xxhash concept-erasure plotly narwhals beartype fancy-einsum
       typeguard gymnasium farama-notifications"
mkdir -p "$DIR"
grep -qx "/$DIR/" .git/info/exclude 2>/dev/null || echo "/$DIR/" >> .git/info/exclude
for name in $NAMES; do
  version=$("$PY" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')
  spec=$name${version:+==$version}
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$DIR" "$spec"
done
du -sh "$DIR"
