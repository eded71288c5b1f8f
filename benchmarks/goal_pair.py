"""The matched supervised/RL pair on the goal tasks: wall time and held-out behaviour per method and seed.

    python benchmarks/goal_pair.py [--seeds 3] [--tasks gridworld bank button] [--out benchmarks/goal_pair.json]

Targets (issue: goal tasks): gridworld 5x5 SL >= 95% greedy success in <= 60 s, RL (PPO, sparse reward) >= 95% in
<= 180 s for each seed; bank: both >= 90% of the DP optimum's return; button: >= 95% success. Timings come from
this machine in the same run, so compare them only within one results file."""
from __future__ import annotations

import argparse
import json
import platform

import torch

from mesaprobe.fsutil import atomic_write_json
from mesaprobe.models.training.goal import train_goal
from mesaprobe.tasks import get_task

TARGETS = {"gridworld": ("success_rate", 0.95), "bank": ("return_ratio", 0.90), "button": ("success_rate", 0.95)}
TIME_LIMITS = {"sl": 60.0, "rl": 180.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=list(TARGETS))
    parser.add_argument("--out", default="benchmarks/goal_pair.json")
    args = parser.parse_args()
    rows = []
    for name in args.tasks:
        metric, bar = TARGETS[name]
        for seed in range(args.seeds):
            for method in ("sl", "rl"):
                _, _, summary = train_goal(get_task(name), method, seed=seed, progress=False)
                b = summary["behavior"]
                row = {"task": name, "method": method, "seed": seed, "wall_time_s": summary["wall_time_s"],
                       metric: b[metric], "success_rate": b["success_rate"], "optimal_rate": b["optimal_rate"],
                       "meets_bar": b[metric] >= bar,
                       "within_time": name != "gridworld" or summary["wall_time_s"] <= TIME_LIMITS[method]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    atomic_write_json(args.out, {"machine": platform.machine(), "torch": torch.__version__,
                                 "threads": torch.get_num_threads(), "rows": rows})


if __name__ == "__main__":
    main()
