"""Running sweeps: a row per cell, finished cells skipped on a re-run, a killed sweep resumed to the same table,
failures reported beside the finished cells, local Ray. Known answer: a model trained on 8 distinct instances
generalises worse than one trained on thousands."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from mesaprobe.errors import UserError
from mesaprobe.sweeps import run as sweep_run
from mesaprobe.sweeps.grid import SweepSpec

pytestmark = pytest.mark.trains  # most tests here train or run whole probes

TINY = dict(n=80, data_seeds=1, causal=False, steps=200)


def table(path, drop=("train_s", "probe_s")):
    """sweep.csv without its wall times (the only columns a re-run may change)."""
    with open(path) as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps") / "pool"
    spec = SweepSpec("argmax", vary={"pool": [8, 4096]}, fixed={"K": 3}, **TINY)
    return spec, out, sweep_run.run_sweep(spec, out, workers=1, progress=False, log_with="tensorboard")


def test_a_sweep_writes_a_row_per_cell_and_the_report(pool_sweep):
    spec, out, rows = pool_sweep
    assert [r["pool"] for r in rows] == [8, 4096] and all(r["K"] == 3 for r in rows)
    assert table(out / "sweep.csv") == table(out / "sweep.csv")  # parses
    assert len(table(out / "sweep.csv")) == 2 and (out / "sweep.html").stat().st_size > 5_000
    assert (out / "plotly.min.js").stat().st_size > 1_000_000  # the report's figures work offline
    for r in rows:
        assert r["verdict"] in ("search-in-map", "neither", "inconclusive", "both", "goal-across-time")
        assert (out / "cells" / r["key"] / "model" / "config.json").is_file()
        assert (out / "cells" / r["key"] / "run" / "results.json").is_file()
        for logged in ("model", "run"):  # --log-with reached both the training and the probe of every cell
            assert list((out / "cells" / r["key"] / logged / "logs").rglob("events.out.tfevents.*")), logged


def test_few_distinct_training_instances_generalise_worse(pool_sweep):
    _, _, (few, many) = pool_sweep
    assert many["behavior"] >= few["behavior"] + 0.2, (few["behavior"], many["behavior"])


def test_a_rerun_skips_every_finished_cell(pool_sweep, monkeypatch):
    spec, out, _ = pool_sweep
    before = (out / "sweep.csv").read_text()

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(sweep_run, "run_cell", must_not_run)
    sweep_run.run_sweep(spec, out, workers=1, progress=False)
    assert (out / "sweep.csv").read_text() == before


def test_a_failing_cell_is_reported_and_the_others_kept(tmp_path, monkeypatch):
    real = sweep_run.run_cell

    def fail_k4(cell, cells, threads=0, log_with=None):
        if cell.params["K"] == 4:
            raise RuntimeError("planted failure")
        return real(cell, cells, threads, log_with)

    monkeypatch.setattr(sweep_run, "run_cell", fail_k4)
    spec = SweepSpec("argmax", vary={"K": [3, 4]}, **TINY | {"steps": 20})
    with pytest.raises(UserError, match="1 of 2 cells failed .*planted failure"):
        sweep_run.run_sweep(spec, tmp_path / "s", workers=1, progress=False)
    assert [r["K"] for r in table(tmp_path / "s" / "sweep.csv")] == ["3"]


def test_a_directory_that_is_not_a_sweep_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(UserError, match="not a sweep directory"):
        sweep_run.run_sweep(SweepSpec("argmax", **TINY), tmp_path / "mine", workers=1, progress=False)
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]


def same_rows(a: list[dict], b: list[dict], tol: float = 1e-4) -> bool:
    """Equal but for wall times, and floats within `tol` (torch's thread count moves the last digits)."""
    def close(x, y):
        return abs(x - y) <= tol if isinstance(x, float) and isinstance(y, float) else x == y

    drop = ("train_s", "probe_s")
    return len(a) == len(b) and all(r.keys() == q.keys() and all(close(r[k], q[k]) for k in r if k not in drop)
                                    for r, q in zip(a, b))


def test_a_killed_sweep_resumes_to_the_same_table(pool_sweep, tmp_path):
    """kill -9 after the first cell: the re-run does the rest, and its sweep.csv equals the uninterrupted one's."""
    spec, whole, _ = pool_sweep
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "mesaprobe.cli", "sweep", "argmax", "--vary", "pool=8,4096", "-p", "K=3", "--steps",
            "200", "--n", "80", "--data-seeds", "1", "--no-causal", "--workers", "1", "--out", str(out)]
    killed = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((out / "cells").glob("*/row.json")) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert len(list((out / "cells").glob("*/row.json"))) == 1  # it was stopped mid-way
    sweep_run.run_sweep(spec, out, workers=1, progress=False)
    assert table(out / "sweep.csv") == table(whole / "sweep.csv")
    assert not list((out / "cells").glob(".*partial"))


@pytest.mark.slow  # starts a Ray instance: ~30 s
def test_cells_run_as_ray_tasks_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    import ray

    spec = SweepSpec("argmax", vary={"K": [3]}, **TINY | {"steps": 20})
    try:
        rows = sweep_run.run_sweep(spec, tmp_path / "ray", ray="local", progress=False)
    finally:
        ray.shutdown()
    assert same_rows(rows, sweep_run.run_sweep(spec, tmp_path / "local", workers=1, progress=False))


def test_a_sweep_refused_by_another_runs_lock_creates_nothing(tmp_path):
    from mesaprobe.fsutil import OutputLock
    from mesaprobe.sweeps.run import run_sweep

    out = tmp_path / "x"
    held = OutputLock(out)  # as a `train --out x` in progress holds it
    held.acquire(out)
    try:
        with pytest.raises(UserError, match="being written by another mesaprobe run"):
            run_sweep(SweepSpec("argmax", vary={"K": [3]}, steps=5), out, progress=False)
        assert not out.exists()
    finally:
        held.release()


def test_the_ray_guard_ends_a_sessions_processes_once_the_sweep_is_gone(tmp_path):
    """Issue 50 M3: `--ray local` starts the guard beside Ray; after a kill -9 of the sweep it kills the processes
    that name the session's directory, and only those."""
    session = str(tmp_path / "session_2026-12-06_fake")
    sweep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    agent = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                              "signal.SIG_IGN); time.sleep(60)", f"--session-dir={session}"])
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--session-dir=/elsewhere"])
    guard = subprocess.Popen([sys.executable, "-m", "mesaprobe.sweeps.ray_guard", str(sweep.pid), session])
    try:
        time.sleep(1.0)
        assert agent.poll() is None
        sweep.kill()
        sweep.wait()
        agent.wait(timeout=10)  # gone, though it ignores SIGTERM
        guard.wait(timeout=10)
        assert bystander.poll() is None
    finally:
        for p in (agent, bystander, guard):
            p.kill()
