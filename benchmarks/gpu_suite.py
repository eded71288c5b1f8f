"""The prepared GPU call: the train-speed benchmark (our loops against a bare forward+backward loop on the
same device), then the latent-goal matched pairs (rock-field and maze, SL and RL, 3 training seeds) trained and
probed, several at once, then the probe-speed benchmark (batched vs scikit-learn) on one of them; one JSON of numbers.

    python benchmarks/gpu_suite.py [--tiny] [--until-bar] [--device auto|cpu|cuda] [--workers N] [--budget-s S]
                                   [--out FILE]

`--tiny`: a few training steps and a small probe, to check the whole path on any machine in a few minutes (the
numbers then mean nothing). On the device machine ($OUT: the folder whose files come back) (see benchmarks/gpu_wheels.sh for the packages it lacks):

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && mkdir -p /tmp/pkg &&
    ln -sfn "$PWD" /tmp/pkg/mesaprobe && export PYTHONPATH=/tmp/site:/tmp/pkg HF_HUB_OFFLINE=1 &&
    python3 benchmarks/gpu_suite.py --tiny --skip-speed --tasks rock-field --out "$OUT/tiny.json" &&   (a minute)
    python3 benchmarks/gpu_suite.py --budget-s 480 --out "$OUT/gpu_suite.json"   (the repository root is the package)

Run the tiny call first and look at its `unfinished` list: it catches a missing package or a device bug in a minute,
where the full call would spend its budget.

The pairs run as `--workers` processes at once (one CPU thread each, all on the one GPU), each model trained at its
task's default steps (`--until-bar`: only until its bar) and probed with the findings' options. The JSON is rewritten
after every phase and every model, so a stopped call still returns what finished; at `--budget-s` the unfinished
models are stopped and listed with how far they got (PPO: the iteration of its last saved state). Each model's row:
wall time of training and of probing, where `--until-bar` (if given) stopped it, held-out behaviour, verdict, and the
search and goal indices with their decodability and causal parts. Every job's log is appended to OUT.log. Timings are
comparable only within one results file. Twelve probes at once on one H200 ran at 1.6x the throughput of one at a
time (experiments/results/gpu-probe-contention): the probes' work is minutes of that machine however it is split."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = ("rock-field", "maze")
TINY = {"steps": 3, "n": 120, "seeds": 1, "causal_layers": (0,), "steer_episodes": 8,
        "speed": {"tasks": ("rock-field",), "steps": 3, "iterations": 1}}
FULL = {"steps": None, "n": 1200, "seeds": 3, "causal_layers": None, "steer_episodes": 200,
        "speed": {"tasks": ("rock-field", "goal-sum"), "steps": 60, "iterations": 2}}


def index_parts(results: dict, family: str) -> dict | None:
    """The family's index with its decodability and causal parts (each the mean over data seeds)."""
    index = results["indices"].get(family)
    if not index:
        return None
    return {"index": index.get("value"), "decodability": (index.get("decodability") or {}).get("value"),
            "causal": (index.get("causal") or {}).get("value")}


def run_job(name: str, work: Path, tiny: bool, device: str, backend: str, until_bar: bool) -> None:
    """One model (`--job TASK:METHOD:SEED`, in its own process): train, then probe; its row file is written after
    each of the two, so a stop between them keeps the training numbers."""
    from mesaprobe.api import probe, train
    from mesaprobe.fsutil import atomic_write_json
    from mesaprobe.runtime import set_threads

    set_threads(1)
    task, method, seed = name.split(":")
    size, stem = TINY if tiny else FULL, name.replace(":", "-")
    model, row_file = work / stem, work / f"{stem}.row.json"
    row = {"task": task, "method": method, "seed": int(seed)}
    start = time.perf_counter()
    summary = train(task, method=method, seed=int(seed), steps=size["steps"], until_bar=until_bar, out=model,
                    progress=False)
    row |= {"train_s": round(time.perf_counter() - start, 1), "steps": summary["steps"]}
    if until_bar:
        row["until_bar_stopped_at"] = summary["until_bar"]["stopped_at"]
    row["behavior"] = summary["behavior"]
    atomic_write_json(row_file, row)
    start = time.perf_counter()
    options = {k: size[k] for k in ("n", "seeds", "steer_episodes")} | {"linear_backend": backend}
    if size["causal_layers"] is not None:
        options["causal_layers"] = size["causal_layers"]
    results = probe(model, task, work / f"{stem}-run", device=device, progress=False, **options)
    row |= {"probe_s": round(time.perf_counter() - start, 1), "probe_behavior": results["behavior"],
            "verdict": results["verdict"], "search": index_parts(results, "search"),
            "goal": index_parts(results, "goal"),
            "probe_phase_s": results["environment"].get("phase_s")}
    atomic_write_json(row_file, row)


def saved_iteration(work: Path, stem: str) -> int | None:
    """The iteration of a stopped PPO run's last saved state (ppo.py saves every few iterations), if any."""
    from mesaprobe.models.training.resume_state import saved_iteration as claimed

    return claimed(work / f".{stem}.resume")


def run_pairs(names: list[str], work: Path, args, deadline: float, log: Path, on_change) -> tuple[list, list]:
    """Run the jobs, `args.workers` at a time, until they finish or `deadline` (perf_counter) passes; returns
    (rows of finished models, rows of stopped ones with how far they got)."""
    waiting, running, done, stopped = list(names), {}, [], []
    flags = ["--work", str(work), "--device", args.device, "--linear-backend", args.linear_backend]
    while waiting or running:
        while waiting and len(running) < args.workers:
            name = waiting.pop(0)
            job_log = work / f"{name.replace(':', '-')}.log"
            cmd = [sys.executable, __file__, "--job", name, *flags, *(["--tiny"] if args.tiny else []),
                   *(["--until-bar"] if args.until_bar else [])]
            with job_log.open("w") as out:  # the child keeps its own copy of the descriptor
                running[name] = (subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), job_log)
        time.sleep(1.0)
        over = time.perf_counter() > deadline
        for name, (proc, job_log) in list(running.items()):
            if proc.poll() is None and not over:
                continue
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            del running[name]
            stem = name.replace(":", "-")
            row_file = work / f"{stem}.row.json"
            row = json.loads(row_file.read_text()) if row_file.exists() else {"name": name}
            with log.open("a") as f:
                f.write(f"=== {name} (exit {proc.returncode})\n{job_log.read_text()[-4000:]}\n")
            if proc.returncode == 0:
                done.append(row)
            else:
                row |= {"stopped": "at the budget" if over else f"exit {proc.returncode}"}
                if "train_s" not in row and name.split(":")[1] == "rl":
                    row["ppo_iteration_saved"] = saved_iteration(work, stem)
                stopped.append(row)
            print(json.dumps(row), flush=True)
            on_change(done, stopped)
        if over:
            stopped += [{"name": name, "stopped": "not started: the budget ran out"} for name in waiting]
            waiting = []
    on_change(done, stopped)
    return done, stopped


def train_speed_rows(size: dict) -> list[dict]:
    from train_speed import reinforcement, supervised

    from mesaprobe.tasks import get_task

    rows = []
    for name in size["speed"]["tasks"]:
        task = get_task(name)
        for row in (supervised(task, size["speed"]["steps"]), reinforcement(task, size["speed"]["iterations"])):
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a few steps and a small probe: checks the path only")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds (default: 1 tiny, 3 otherwise)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--workers", type=int, default=max(1, min(12, (os.cpu_count() or 2) - 2)),
                        help="models trained and probed at once (default: the cores less two, at most 12)")
    parser.add_argument("--budget-s", type=float, default=540.0, help="stop unfinished models after this long")
    parser.add_argument("--linear-backend", default="batched", help="the probes' linear backend (batched: on device)")
    parser.add_argument("--until-bar", action="store_true",
                        help="train each model only until its bar (quicker; such models can carry less of their goal "
                             "than the findings' models: the 2026-12-04 call's maze SL)")
    parser.add_argument("--skip-speed", action="store_true", help="leave out the train- and probe-speed benchmarks")
    parser.add_argument("--out", default="gpu_suite.json")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch loads: training (accelerate) follows what it sees
    sys.path.insert(0, str(Path(__file__).parent))
    if args.job:
        return run_job(args.job, Path(args.work), args.tiny, args.device, args.linear_backend, args.until_bar)
    import torch
    from probe_speed import bench

    from mesaprobe.fsutil import atomic_write_json

    started = time.perf_counter()
    size = TINY if args.tiny else FULL
    seeds = args.seeds or size["seeds"]
    out = {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "tiny": args.tiny,
           "seeds": seeds, "workers": args.workers, "budget_s": args.budget_s, "until_bar": args.until_bar,
           "linear_backend": args.linear_backend}
    log = Path(args.out).with_suffix(".log")
    log.write_text("")

    def write(**fields):
        out.update(fields, wall_s=round(time.perf_counter() - started, 1))
        atomic_write_json(args.out, out)

    if not args.skip_speed:
        write(train_speed=train_speed_rows(size))
    names = [f"{task}:{method}:{seed}" for seed in range(seeds) for task in args.tasks for method in ("rl", "sl")]
    with tempfile.TemporaryDirectory() as tmp:
        deadline = started + args.budget_s - (0 if args.skip_speed else 60)  # the probe-speed benchmark's minute
        done, _ = run_pairs(names, Path(tmp), args, deadline, log,
                            lambda done, stopped: write(models=done, unfinished=stopped))
        if done and not args.skip_speed:
            first = done[0]
            model = Path(tmp) / f"{first['task']}-{first['method']}-{first['seed']}"
            write(probe_speed=bench(str(model), first["task"], size["n"], 5, False, False, args.device))
    write()
    print(json.dumps({k: out[k] for k in ("machine", "gpu", "tiny", "wall_s")}))


if __name__ == "__main__":
    main()
