#!/usr/bin/env bash
# The latent-goal experiments of docs/design.md: the known positive (goal-sum) beside its random-init twin, then the
# matched SL/RL pair (same architecture, tokens and episode budget) on rock-field and maze, 3 training seeds each,
# each probed on 3 data seeds; one side-by-side report per task and seed.
#   bash experiments/latent_goals.sh [OUT] [TASKS...]   (default: experiments/out; goal-sum rock-field maze)
set -euo pipefail
OUT=${1:-experiments/out}
shift || true
TASKS=${*:-goal-sum rock-field maze}
for task in $TASKS; do
  for seed in 0 1 2; do
    for method in sl rl; do
      name="$task-$method-$seed"
      [ -f "$OUT/models/$name/training.json" ] || mesaprobe train "$task" --method "$method" --seed "$seed" \
        --out "$OUT/models/$name"
      [ -f "$OUT/runs/$name/results.json" ] || mesaprobe probe "$OUT/models/$name" "$task" --n 1200 --seeds 3 \
        --out "$OUT/runs/$name"
    done
    [ "$seed" != 0 ] || [ -f "$OUT/runs/$task-random-init/results.json" ] || mesaprobe probe \
      "$OUT/models/$task-sl-0" "$task" --random-init --n 1200 --seeds 3 --out "$OUT/runs/$task-random-init"
    mesaprobe report "$OUT/runs/$task-sl-$seed" "$OUT/runs/$task-rl-$seed" --out "$OUT/$task-sl-vs-rl-$seed.html"
  done
done
