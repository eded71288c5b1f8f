"""A train and a probe on an idle machine and beside one busy process, three ways: a thread per core whose OpenMP
threads spin while they wait (libgomp's default; mesaprobe before issue 31), the same with threads that wait
passively (OMP_WAIT_POLICY=PASSIVE), and a thread per core that other work leaves free (mesaprobe's default now).

    python benchmarks/busy_idle.py [--steps 300] [--n 300] [--repeats 3] [--out benchmarks/busy_idle.json]

Targets (issue 31): with mesaprobe's default, busy/idle <= 2.5x for both commands, and the idle time within 5% of
the time before. Each time is the median of `--repeats` runs, taken in turn (policy, load, command) so that a
slow minute of the machine touches every cell. Run it on an otherwise idle machine; every time in one results file
comes from the same run."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "mesaprobe.cli"]
CORES = str(os.cpu_count() or 1)
BEFORE, PASSIVE, DEFAULT = "every core, spinning (before)", "every core, passive wait", "free cores (default now)"
POLICIES = {BEFORE: ("", ["--threads", CORES]), PASSIVE: ("PASSIVE", ["--threads", CORES]), DEFAULT: ("", [])}


def timed(args: list[str], policy: tuple[str, list[str]]) -> float:
    wait, flags = policy
    env = os.environ | {"OMP_WAIT_POLICY": wait, "HF_HUB_OFFLINE": "1"}  # "": libgomp's default (with a warning)
    env.pop("OMP_NUM_THREADS", None)
    start = time.perf_counter()
    subprocess.run(CLI + flags + args, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/busy_idle.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        subprocess.run(CLI + ["train", "argmax", "--steps", str(args.steps), "--out", str(model)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        commands = {"train": ["train", "argmax", "--steps", str(args.steps), "--overwrite", "--out"],
                    "probe": ["probe", str(model), "argmax", "--n", str(args.n), "--seeds", "1", "--no-causal",
                              "--overwrite", "--out"]}
        times: dict[tuple, list[float]] = {}
        for _ in range(args.repeats):
            for label, policy in POLICIES.items():
                for load in ("idle", "beside one busy process"):
                    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "idle" else None
                    try:
                        for command, argv in commands.items():
                            seconds = timed(argv + [str(Path(tmp) / command)], policy)
                            times.setdefault((label, load, command), []).append(round(seconds, 2))
                            print(json.dumps({"policy": label, "load": load, "command": command,
                                              "seconds": round(seconds, 2)}), flush=True)
                    finally:
                        if busy:
                            busy.kill()
                            busy.wait()
    rows = [{"policy": p, "load": l, "command": c, "seconds": statistics.median(v), "runs": v}
            for (p, l, c), v in times.items()]
    time_of = {(r["policy"], r["load"], r["command"]): r["seconds"] for r in rows}
    summary = {}
    for command in ("train", "probe"):
        for label in POLICIES:
            summary[f"{command}: busy/idle, {label}"] = round(
                time_of[label, "beside one busy process", command] / time_of[label, "idle", command], 2)
        summary[f"{command}: idle, default now / before"] = round(
            time_of[DEFAULT, "idle", command] / time_of[BEFORE, "idle", command], 3)
    summary["meets targets"] = all(v <= 2.5 for k, v in summary.items() if k.endswith(f"busy/idle, {DEFAULT}")) and all(
        v <= 1.05 for k, v in summary.items() if "default now / before" in k)
    print(json.dumps(summary, indent=2))
    from mesaprobe.fsutil import atomic_write_json

    atomic_write_json(args.out, {"machine": platform.machine(), "cores": os.cpu_count(), "steps": args.steps,
                                 "n": args.n, "repeats": args.repeats, "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
