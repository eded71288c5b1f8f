"""PPO's sample efficiency by setting (issue 31 item 1: the loop is at its compute floor, so what is left is the
number of episodes to the bar): rock-field on a 4x4 grid with 2 rocks, the same seed, iterations and episodes
(1024 a iteration) for each setting; held-out greedy success (the bar is 0.95) and the sampled success per
iteration. Settings are PPOConfig fields; `{}` is the default. Resumable: a setting already in --out is kept.

    python benchmarks/ppo_settings.py [--iterations 40] [--settings '{}' '{"minibatch": 128}' ...]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer
from mesaprobe.models.training.goal import evaluate, ppo_config
from mesaprobe.models.training.ppo import train_ppo
from mesaprobe.tasks import get_task

PARAMS = {"N": 4, "K": 2}


def run(changes: dict, iterations: int, seed: int = 0) -> dict:
    task = get_task("rock-field", **PARAMS)
    tokenizer = build_tokenizer(task.vocabulary())
    model = build_tiny_model(tokenizer, TinySize(**task.recipe.model_size), seed)
    config = ppo_config(task, task.recipe.episode_budget, iterations)
    for key, value in changes.items():
        setattr(config, key, value)
    start = time.perf_counter()
    model, _, extra = train_ppo(task, model, tokenizer, seed, config, progress=False)
    return {"changes": changes, "iterations": iterations, "seed": seed, "wall_s": round(time.perf_counter() - start, 1),
            "success_rate": evaluate(model, tokenizer, task, seed)["success_rate"],
            "train_success_by_iteration": [round(x, 4) for x in extra["train_success_by_iteration"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--settings", nargs="+", default=['{}', '{"minibatch": 128}', '{"minibatch": 64}',
                                                          '{"ent_coef": 0.001}', '{"lr": 0.002}'])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_suffix(".json"))
    args = parser.parse_args()
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    data |= {"task": "rock-field", "params": PARAMS, "bar": 0.95,
             "note": "wall_s: one thread beside other jobs on a 2-core machine, not a timing"}
    rows = data.setdefault("rows", [])
    for text in args.settings:
        changes = json.loads(text)
        if any(r["changes"] == changes and r["iterations"] == args.iterations for r in rows):
            continue
        rows.append(run(changes, args.iterations))
        print(json.dumps({k: rows[-1][k] for k in ("changes", "success_rate", "wall_s")}), flush=True)
        args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
