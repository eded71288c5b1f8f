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
