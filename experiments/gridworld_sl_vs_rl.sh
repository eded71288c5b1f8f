#!/usr/bin/env bash
# The tool's first finding: the gridworld SL/RL pair (same architecture, tokens, seed and episode budget) for three
# training seeds, each probed on 3 data seeds with linear and causal probes, then one side-by-side report per seed.
#   bash experiments/gridworld_sl_vs_rl.sh [OUT]   (about 20 minutes on 2 CPU cores)
set -euo pipefail
OUT=${1:-experiments/out}
for seed in 0 1 2; do
  for method in sl rl; do
    mesaprobe train gridworld --method "$method" --seed "$seed" --out "$OUT/models/grid-$method-$seed"
    mesaprobe probe "$OUT/models/grid-$method-$seed" gridworld --n 600 --seeds 3 --out "$OUT/runs/grid-$method-$seed"
  done
  mesaprobe report "$OUT/runs/grid-sl-$seed" "$OUT/runs/grid-rl-$seed" --out "$OUT/grid-sl-vs-rl-$seed.html"
done
