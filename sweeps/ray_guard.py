"""Ends the local Ray instance a sweep started (`--ray local`) once the sweep's process is gone, however it went: Ray's
node processes (its dashboard and runtime-env agents ignore SIGTERM) outlive a driver killed by SIGKILL. Run as
`python -m mesaprobe.sweeps.ray_guard PID SESSION_DIR` in a session of its own; it kills (SIGKILL) every process whose
command line names that session's directory, and nothing else."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def session_processes(session_dir: str) -> list[int]:
    """Processes whose command line names `session_dir` (Linux /proc), this one left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if session_dir in cmdline:
            found.append(int(entry.name))
    return found


def guard(pid: int, session_dir: str, interval_s: float = 0.5) -> None:
    while alive(pid):
        time.sleep(interval_s)
    for other in session_processes(session_dir):
        try:
            os.kill(other, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    guard(int(sys.argv[1]), sys.argv[2])
