#!/usr/bin/env bash
# Copy a named experiment's finished cells into experiments/results/ (no weights, no activations, no task data):
# per cell results.json, config.json, training.json and row.json under NAME/KEY/, and sweep.csv as NAME.csv.
#   bash experiments/collect_sweep.sh SWEEP_DIR NAME      e.g. ... /work/runs/candidates-standard candidates-standard
# Safe to run while the sweep goes on: only cells with a row.json (finished whole) are copied.
set -euo pipefail
SWEEP=${1:?usage: collect_sweep.sh SWEEP_DIR NAME}
NAME=${2:?usage: collect_sweep.sh SWEEP_DIR NAME}
DEST=$(cd "$(dirname "$0")" && pwd)/results/$NAME
mkdir -p "$DEST"
for cell in "$SWEEP"/cells/*/; do
  key=$(basename "$cell")
  [ -f "$cell/row.json" ] || continue
  mkdir -p "$DEST/$key"
  cp "$cell/row.json" "$cell/run/results.json" "$cell/run/config.json" "$cell/model/training.json" "$DEST/$key/"
done
cp "$SWEEP/sweep.csv" "$DEST.csv"
echo "$(ls -d "$DEST"/*/ | wc -l) cells in $DEST"
