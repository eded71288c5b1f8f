"""`train --processes N`: the same training run as N processes on this machine, started through accelerate's launcher
(torchrun; gloo between CPU processes), each process taking its share of every batch. On tiny models two one-thread
processes trained rock-field PPO 1.2-1.4x faster than one process with two threads (benchmarks/train_speed.py): their
operations are too small to split well between threads. The update is the same as one process's
(tests/models/training/test_split_update.py). Each process draws its own layouts and samples, so a run of N processes is
another draw of PPO's spread than the one-process run of the same seed (rock-field PPO starts slowly on some seeds
either way: experiments/results/rock-field-speed)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.runtime import LAUNCHED_BY, die_with_parent

# TrainOptions fields and their `mesaprobe train` flags (booleans are bare flags); progress follows the terminal
FLAGS = {"method": "--method", "seed": "--seed", "steps": "--steps", "base": "--base", "lr": "--lr", "lora": "--lora",
         "layers": "--layers", "width": "--width", "window": "--window", "pool": "--pool", "until_bar": "--until-bar",
         "log_with": "--log-with", "overwrite": "--overwrite"}
LAUNCHER = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no"]


def train_command(task, out: str | Path, params: dict[str, int] | None, options) -> list[str]:
    """The `mesaprobe train` arguments that ask for this run in one process."""
    spec = task if isinstance(task, str) else task.name
    if not isinstance(task, str):  # a Task object: its own parameters, as the command line would give them
        params = {k: v for k, v in task.params.items() if k in task.PARAMS}
    args = ["train", spec, "--out", str(out)]
    args += [a for k, v in (params or {}).items() for a in ("-p", f"{k}={v}")]
    for field in fields(options):
        value, flag = getattr(options, field.name), FLAGS.get(field.name)
        if flag is None or value in (None, False) or value == field.default:
            continue
        args += [flag] if value is True else [flag, str(value)]
    return args


def train_in_processes(task, out: str | Path, params: dict[str, int] | None, options) -> dict:
    """Run the training as `options.processes` launched processes; return the summary the main one saved. Each
    process gets an equal share of this process's threads (the free cores, or --threads)."""
    import torch

    processes = options.processes
    if torch.cuda.is_available() and processes > torch.cuda.device_count():
        raise UserError(f"--processes {processes}: this machine has {torch.cuda.device_count()} GPU(s), one per "
                        "process")
    threads = max(1, torch.get_num_threads() // processes)
    command = [sys.executable, *LAUNCHER, "--num_processes", str(processes), "--main_process_port", str(free_port()),
               "-m", "mesaprobe.cli",
               *train_command(task, out, params, options)]
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MESAPROBE_JOBS": "1", LAUNCHED_BY: str(os.getpid())}
    # the processes' own messages (progress, errors) reach the terminal; the main one's `saved` line is ours to say.
    # If this process dies, even by SIGKILL, the launcher gets SIGTERM (passed on to the processes, which clean up),
    # and each process also exits once this pid is gone (runtime.exit_with_launcher)
    launcher = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        code = launcher.wait()
    except BaseException:  # Ctrl-C or SIGTERM here: stop them the way they clean up (SIGKILL would orphan them)
        stop(launcher)
        raise
    if code:
        raise UserError(f"training in {processes} processes failed (exit code {code}); the message above is theirs")
    return json.loads((Path(out) / "training.json").read_text())


def free_port() -> int:
    """A port nothing listens on now, for the processes to meet at (two runs at once on the default one clash)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(launcher: subprocess.Popen, wait_s: float = 60) -> None:
    """SIGTERM to the launcher, which passes it to the processes it started (each then removes its partial output
    and exits); SIGKILL only if they have not ended after `wait_s`."""
    launcher.send_signal(signal.SIGTERM)
    try:
        launcher.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        launcher.kill()
