"""`train --processes N` (launch.py): the command each launched process runs asks for the very run that was asked
for, and the processes' shares of a batch add up to it."""
import dataclasses

import pytest
import typer

from mesaprobe.cli import app
from mesaprobe.cli_support import parse_params
from mesaprobe.launch import FLAGS, train_command
from mesaprobe.models.training.options import TrainOptions
from mesaprobe.runtime import process_share
from mesaprobe.tasks import get_task

NOT_PASSED = {"processes", "progress"}  # the launched processes are one each; progress follows the terminal


def parsed(args: list[str]) -> dict:
    """What `mesaprobe train` reads from `args` (parsed by the CLI itself, nothing run)."""
    assert args[0] == "train"
    command = typer.main.get_command(app).commands["train"]
    return command.make_context("train", args[1:]).params


def test_every_option_but_processes_and_progress_has_its_flag():
    assert set(FLAGS) == {f.name for f in dataclasses.fields(TrainOptions)} - NOT_PASSED


@pytest.mark.parametrize("options", [
    TrainOptions(),
    TrainOptions(method="rl", seed=3, steps=7, layers=2, width=32, window=4, pool=50, until_bar=True, overwrite=True,
                 processes=2),
    TrainOptions(base="smollm2", lr=1e-4, lora=4, steps=5, processes=3),
])
def test_the_launched_command_asks_for_the_same_run(options):
    params = parsed(train_command("rock-field", "m/out", {"hard": 40, "K": 4}, options))
    assert (params["task"], str(params["out"]), parse_params(params["param"])) == ("rock-field", "m/out",
                                                                                   {"hard": 40, "K": 4})
    assert params["processes"] == 1
    for field in dataclasses.fields(TrainOptions):
        if field.name not in NOT_PASSED:
            assert params[field.name] == getattr(options, field.name), field.name


def test_a_task_object_is_passed_by_name_with_its_parameters():
    task = get_task("rock-field", hard=40, K=4)
    params = parsed(train_command(task, "m", None, TrainOptions()))
    assert get_task(params["task"], **parse_params(params["param"])).describe() == task.describe()


@pytest.mark.parametrize("n, processes", [(1024, 2), (1025, 2), (128, 3), (5, 8)])
def test_the_shares_of_a_batch_add_up_and_differ_by_at_most_one(n, processes):
    shares = [process_share(n, rank, processes) for rank in range(processes)]
    assert sum(shares) == n and max(shares) - min(shares) <= 1


def test_fewer_than_one_process_is_refused():
    from mesaprobe.errors import UserError

    with pytest.raises(UserError, match="--processes must be at least 1"):
        TrainOptions(processes=0).check(get_task("argmax"))


def test_a_refused_out_is_one_line_before_any_process_starts(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import mesaprobe.launch

    monkeypatch.setattr(mesaprobe.launch, "train_in_processes", lambda *a, **k: pytest.fail("processes were started"))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("mine")
    done = CliRunner().invoke(app, ["train", "gridworld", "--processes", "2", "--out", str(tmp_path / "m")])
    assert done.exit_code == 2 and "already exists" in done.output
    assert (tmp_path / "m" / "notes.txt").read_text() == "mine"


def test_stopping_the_launcher_sends_it_sigterm_which_it_passes_on_not_sigkill(tmp_path):
    """torchrun's launcher passes SIGTERM to its processes, which remove their partial output; SIGKILL would leave
    them running on their own."""
    import subprocess
    import sys
    import time

    from mesaprobe.launch import stop

    said, ready = tmp_path / "said", tmp_path / "ready"
    code = ("import pathlib, signal, sys, time\n"
            f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(said)!r}).write_text('TERM'), sys.exit(0)))\n"
            f"pathlib.Path({str(ready)!r}).touch()\n"
            "time.sleep(60)\n")
    launcher = subprocess.Popen([sys.executable, "-c", code])
    while not ready.exists():
        time.sleep(0.05)
    stop(launcher, wait_s=10)
    assert launcher.returncode == 0 and said.read_text() == "TERM"


@pytest.mark.slow
def test_kill_9_of_train_processes_leaves_no_survivor_and_no_output(tmp_path):
    """Issue 50 M2: the launcher and both workers end with the command that started them."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "p"
    parent = subprocess.Popen([sys.executable, "-m", "mesaprobe.cli", "train", "argmax", "--steps", "1500",
                               "--processes", "2", "--out", str(out)], stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "log", "w"))
    launched = lambda: [line for line in subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True,
                                                        text=True).stdout.splitlines()
                        if str(out) in line and line.split()[0] != str(parent.pid)]
    for _ in range(120):  # until both workers train
        if len(launched()) >= 3:
            break
        time.sleep(0.5)
    assert len(launched()) >= 3
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    for _ in range(20):
        if not launched():
            break
        time.sleep(0.5)
    assert launched() == [] and not out.exists() and not list(tmp_path.glob(".p.*.partial"))
