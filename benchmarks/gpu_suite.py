"""The prepared GPU call (issue 31): train the latent-goal matched pairs (rock-field and maze, SL and RL, 3 training
seeds), probe each model, then time the linear probes (batched vs scikit-learn, benchmarks/probe_speed.py) on one of
them; one JSON of numbers.

    python benchmarks/gpu_suite.py [--tiny] [--device auto|cpu|cuda] [--out gpu_suite.json]

`--tiny`: a few training steps and a small probe, to check the whole path on any machine in a minute or two (the
numbers then mean nothing). On the device machine (see benchmarks/gpu_wheels.sh for the packages it lacks):

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && mkdir -p /tmp/pkg &&
    ln -sfn "$PWD" /tmp/pkg/mesaprobe && export PYTHONPATH=/tmp/site:/tmp/pkg &&
    python3 benchmarks/gpu_suite.py --out $OUT/gpu_suite.json      (the repository root is the package)

Each model's row: wall time of training and of probing, held-out behaviour, verdict, and the goal index with its
decodability and causal parts. Timings are comparable only within one results file."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

TASKS = ("rock-field", "maze")
TINY = {"steps": 3, "n": 120, "seeds": 1, "causal_layers": (0,), "steer_episodes": 8}
FULL = {"steps": None, "n": 1200, "seeds": 3, "causal_layers": None, "steer_episodes": 200}


def index_parts(results: dict, family: str = "goal") -> dict:
    """The family's index with its decodability and causal parts (each the mean over data seeds)."""
    index = results["indices"].get(family) or {}
    return {"index": index.get("value"), "decodability": (index.get("decodability") or {}).get("value"),
            "causal": (index.get("causal") or {}).get("value")}


def pair_rows(work: Path, size: dict, seeds: int, tasks: tuple[str, ...], device: str) -> list[dict]:
    from mesaprobe.api import probe, train

    rows = []
    for task in tasks:
        for seed in range(seeds):
            for method in ("sl", "rl"):
                model, run = work / f"{task}-{method}-{seed}", work / f"{task}-{method}-{seed}-run"
                start = time.perf_counter()
                summary = train(task, method=method, seed=seed, steps=size["steps"], out=model, progress=False)
                train_s = time.perf_counter() - start
                start = time.perf_counter()
                options = {k: size[k] for k in ("n", "seeds", "steer_episodes")}
                if size["causal_layers"] is not None:
                    options["causal_layers"] = size["causal_layers"]
                results = probe(model, task, run, device=device, progress=False, **options)
                rows.append({"task": task, "method": method, "seed": seed, "train_s": round(train_s, 1),
                             "probe_s": round(time.perf_counter() - start, 1), "behavior": summary["behavior"],
                             "verdict": results["verdict"], "goal": index_parts(results)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a few steps and a small probe: checks the path only")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds (default: 1 tiny, 3 otherwise)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--out", default="gpu_suite.json")
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch loads: training (accelerate) follows what it sees
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from probe_speed import bench

    from mesaprobe.fsutil import atomic_write_json

    size = TINY if args.tiny else FULL
    seeds = args.seeds or (1 if args.tiny else 3)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = pair_rows(Path(tmp), size, seeds, tuple(args.tasks), args.device)
        first = Path(tmp) / f"{args.tasks[0]}-sl-0"
        speed = bench(str(first), args.tasks[0], size["n"], 5, False, False, args.device)
    out = {"machine": platform.machine(), "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
           "torch": torch.__version__, "tiny": args.tiny, "seeds": seeds, "models": rows, "probe_speed": speed,
           "wall_s": round(time.perf_counter() - started, 1)}
    atomic_write_json(args.out, out)
    print(json.dumps({k: out[k] for k in ("machine", "gpu", "tiny", "wall_s")}))


if __name__ == "__main__":
    main()
