"""Threads that follow the free cores: a core another process keeps busy is not counted as free, the count never
drops below one, and an explicit count is used as given."""
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


def test_an_explicit_thread_count_is_used_and_a_negative_one_refused(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv("MESAPROBE_JOBS", raising=False)
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1 and os.environ["MESAPROBE_JOBS"] == "1"
    finally:
        torch.set_num_threads(before)
    with pytest.raises(UserError, match="--threads -1"):
        set_threads(-1)
