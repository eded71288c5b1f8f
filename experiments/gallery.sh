#!/usr/bin/env bash
# The known-answer gallery (docs/findings.md): train the gallery's models that are not committed fixtures, then probe
# every search entry at `mesaprobe probe`'s defaults into experiments/results/gallery/NAME/ (results.json, config.json;
# no activations). Resumable: a model or run already there is kept.   bash experiments/gallery.sh WORKDIR
set -euo pipefail
WORK=${1:?usage: gallery.sh WORKDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/experiments/results/gallery
MP=${MESAPROBE:-mesaprobe}
mkdir -p "$WORK/models" "$WORK/runs"

train() {  # NAME TASK ARGS...
  local name=$1; shift
  [ -f "$WORK/models/$name/model.safetensors" ] || $MP train "$@" --out "$WORK/models/$name"
}
probe() {  # NAME MODEL TASK ARGS...
  local name=$1 model=$2; shift 2
  if [ ! -f "$OUT/$name/results.json" ]; then
    rm -rf "$WORK/runs/$name"
    $MP probe "$model" "$@" --out "$WORK/runs/$name"
    mkdir -p "$OUT/$name" && cp "$WORK/runs/$name"/{results,config}.json "$OUT/$name/"
  fi
}

train argmax-shortcut100-sl argmax -p shortcut=100
train argmax-memorizer-sl argmax --pool 32
for s in 0 1 2; do train argmax-closest-K7-sl-$s argmax -p rule=3 -p K=7 --seed $s; done
train rocks-sl rocks
train kv-recall-sl kv-recall

F=$ROOT/tests/fixtures
probe argmax-sl "$F/argmax-sl" argmax
probe argmax-sl-random-init "$F/argmax-sl" argmax --random-init
probe argmax-closest-sl "$F/argmax-closest-sl" argmax -p rule=3 --also-methods das
probe argmax-closest-sl-random-init "$F/argmax-closest-sl" argmax -p rule=3 --also-methods das --random-init
probe argmax-shortcut100-sl "$WORK/models/argmax-shortcut100-sl" argmax -p shortcut=100
probe argmax-memorizer-sl "$WORK/models/argmax-memorizer-sl" argmax
for s in 0 1 2; do probe argmax-closest-K7-sl-$s "$WORK/models/argmax-closest-K7-sl-$s" argmax -p rule=3 -p K=7; done
probe rocks-sl "$WORK/models/rocks-sl" rocks
probe kv-recall-sl "$WORK/models/kv-recall-sl" kv-recall
