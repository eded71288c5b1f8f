"""Threads that follow the free cores: a core another process keeps busy is not counted as free, the count never
drops below one, and an explicit count is used as given, by torch and by the BLAS and OpenMP pools alike."""
import os
import subprocess
import sys
import time

import pytest

from mesaprobe.errors import UserError
from mesaprobe.runtime import free_cores, set_threads


def test_a_busy_process_takes_a_core_away():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        assert 1 <= free_cores(0.5) <= (os.cpu_count() or 1) - 1 or os.cpu_count() == 1
    finally:
        busy.kill()
        busy.wait()


def pool_threads() -> set[int]:
    """The thread counts of the BLAS and OpenMP pools loaded in this process (numpy's, scipy's, scikit-learn's)."""
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info()}


def test_an_explicit_thread_count_is_used_for_torch_and_every_blas_pool_and_a_negative_one_refused(monkeypatch):
    import torch
    from threadpoolctl import threadpool_limits

    for var in ("MESAPROBE_JOBS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "")  # recorded, so that the test leaves the environment as it found it
        monkeypatch.delenv(var)
    before, pools_before = torch.get_num_threads(), threadpool_limits(2)  # two a pool, whatever the session set
    try:
        assert pool_threads() == {2}
        assert set_threads(1) == 1 and torch.get_num_threads() == 1 and os.environ["MESAPROBE_JOBS"] == "1"
        assert pool_threads() == {1}  # numpy's, scipy's and scikit-learn's pools too: the probes' fits run there
        # joblib gives each of the probes' workers its share of the cores only where these are not set
        assert "OPENBLAS_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ
    finally:
        torch.set_num_threads(before)
        pools_before.restore_original_limits()
    with pytest.raises(UserError, match="--threads -1"):
        set_threads(-1)


def test_a_thread_count_set_before_the_probes_load_holds_their_pools_too():
    """In a fresh process (the GPU suite's and a sweep's workers): the count is set first, scikit-learn and scipy's
    linear algebra load later, as a probe loads them."""
    code = ("from mesaprobe.runtime import set_threads; set_threads(1); import scipy.linalg, sklearn.linear_model; "
            "from threadpoolctl import threadpool_info; print(sorted({p['num_threads'] for p in threadpool_info()}))")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}  # the pools' own defaults
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[1]"


def test_the_core_watch_counts_another_process_busy_and_waits_for_its_window():
    from mesaprobe.runtime import CoreWatch

    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        watch = CoreWatch(every_s=0.5)
        assert watch.free() is None  # no window yet
        time.sleep(0.8)
        assert 1 <= watch.free() <= (os.cpu_count() or 1) - 1 or os.cpu_count() == 1
    finally:
        busy.kill()
        busy.wait()


def test_training_loops_follow_the_free_cores_only_where_the_count_follows_them(monkeypatch):
    import torch

    import mesaprobe.runtime as runtime

    class Watch:
        def free(self):
            return 1

    from threadpoolctl import threadpool_limits

    before, pools_before = torch.get_num_threads(), threadpool_limits(2)
    try:
        torch.set_num_threads(2)
        monkeypatch.setitem(runtime._FOLLOW, "watch", None)  # --threads given, or OMP_NUM_THREADS: left alone
        runtime.follow_free_cores()
        assert torch.get_num_threads() == 2 and pool_threads() == {2}
        monkeypatch.setitem(runtime._FOLLOW, "watch", Watch())
        runtime.follow_free_cores()
        assert torch.get_num_threads() == 1 and pool_threads() == {1}
    finally:
        torch.set_num_threads(before)
        pools_before.restore_original_limits()


def _wait_gone(proc, timeout_s: float = 10.0) -> bool:
    import subprocess

    try:
        proc.wait(timeout=timeout_s)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        return False


def test_a_launched_process_exits_when_the_command_that_launched_it_is_killed():
    import os
    import subprocess
    import sys

    from mesaprobe.runtime import LAUNCHED_BY

    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child = subprocess.Popen([sys.executable, "-c", "from mesaprobe.runtime import exit_with_launcher\n"
                              "import time\nexit_with_launcher()\ntime.sleep(60)"],
                             env=os.environ | {LAUNCHED_BY: str(parent.pid)})
    time.sleep(1.0)
    assert child.poll() is None  # alive while its launcher lives
    parent.kill()  # kill -9
    parent.wait()
    assert _wait_gone(child), "the launched process outlived the command that launched it"


def test_the_launcher_gets_sigterm_when_its_parent_dies_by_sigkill(tmp_path):
    import subprocess
    import sys

    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time\n"
              "from mesaprobe.runtime import die_with_parent\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], preexec_fn=die_with_parent)\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    grandchild = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    for _ in range(100):  # the grandchild is re-parented; it must be gone within 10 s
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{grandchild}/stat") as f:  # a zombie awaiting its new parent's reap counts as gone
            if f.read().split()[2] == "Z":
                return
        time.sleep(0.1)
    pytest.fail("the launcher outlived its parent's SIGKILL")


def test_off_a_terminal_a_bar_writes_whole_lines_often_enough_and_stays(capsys):
    from tqdm.auto import tqdm

    from mesaprobe.runtime import PIPED_EVERY_S, bar_options

    assert bar_options(False) == {"disable": True}
    options = bar_options(True)  # pytest's stderr is not a terminal
    assert options["mininterval"] == PIPED_EVERY_S <= 20 and options["leave"]
    for _ in tqdm(range(3), desc="phase", **options):
        pass
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("phase:   0%") and lines[-1].startswith("phase: 100%") and "3/3" in lines[-1]
    assert not any("\r" in line for line in lines)


def test_a_piped_bar_that_does_not_move_still_writes_a_line_every_interval(capsys, monkeypatch):
    import time

    from tqdm.auto import tqdm

    import mesaprobe.runtime as runtime

    monkeypatch.setattr(runtime, "PIPED_EVERY_S", 1)
    bar = tqdm(total=2, desc="slow step", **runtime.bar_options(True))
    capsys.readouterr()
    time.sleep(2.8)  # one long step: the bar does not move
    heard = [line for line in capsys.readouterr().err.splitlines() if line.startswith("slow step:")]
    bar.close()
    assert len(heard) >= 2 and all("0/2" in line for line in heard)
