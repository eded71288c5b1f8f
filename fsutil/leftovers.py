"""Work in progress and what a killed run leaves of it, recognised exactly.

A run building output NAME works in `.NAME.<pid>.<tag>.partial` (tag: 8 random hex digits) beside it, with a file
`.mesaprobe-partial` inside naming NAME, the pid and the host; a replaced output is moved aside to
`.NAME.<pid>.<tag>.old.partial` before it is deleted. Such a directory is removed later only when all of these hold:
the exact name, the file inside agreeing with it, this host, and a pid that is no longer alive. The lock `.NAME.lock`
is created exclusively and starts with LOCK_TAG; a file of that name that mesaprobe did not write is never touched.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import sys
from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.fsutil.atomic import PARTIAL_MARKER, umask

LOCK_TAG = b"mesaprobe lock"
PARTIAL = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<tag>[0-9a-f]{8})(?P<old>\.old)?\.partial$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def claim(directory: Path, name: str) -> None:
    """Mark `directory` as this process's work in progress on output `name`."""
    (directory / PARTIAL_MARKER).write_text(json.dumps({"output": name, "pid": os.getpid(),
                                                        "host": socket.gethostname()}))


def new_partial(out: Path, old: bool = False) -> Path:
    """A fresh, claimed `.NAME.<pid>.<tag>[.old].partial` path beside `out` (created unless `old`)."""
    while True:
        path = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}{'.old' if old else ''}.partial"
        if old:
            if not os.path.lexists(path):
                return path
            continue
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o777 & ~umask())
            claim(path, out.name)
            return path


def is_leftover(path: Path, name: str | None = None) -> bool:
    """Is `path` work in progress that a run, now dead, on this host left for output `name` (any name if None)?"""
    match = PARTIAL.match(path.name)
    if not match or (name is not None and match["name"] != name) or path.is_symlink() or not path.is_dir():
        return False
    try:
        claimed = json.loads((path / PARTIAL_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(claimed, dict) and claimed.get("output") == match["name"]
            and claimed.get("pid") == int(match["pid"]) and claimed.get("host") == socket.gethostname()
            and not pid_alive(int(match["pid"])))


def remove_leftovers(out: Path, dry_run: bool = False) -> list[Path]:
    """The partial directories that killed runs left for `out` (call only while holding its lock)."""
    gone = [p for p in sorted(out.parent.iterdir()) if is_leftover(p, out.name)] if out.parent.is_dir() else []
    if not dry_run:
        for path in gone:
            shutil.rmtree(path, ignore_errors=True)
    return gone


class OutputLock:
    """An exclusive, non-blocking OS lock on `.NAME.lock` beside `out`, released when the process exits."""

    def __init__(self, out: Path):
        self.path = out.parent / f".{out.name}.lock"
        self.fd: int | None = None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666 & ~umask())
        except FileExistsError:
            pass
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:  # a symbolic link or a directory of that name
            fd = -1
        if fd < 0 or not os.pread(fd, len(LOCK_TAG), 0) in (LOCK_TAG, b""):  # empty: killed while writing its tag
            if fd >= 0:
                os.close(fd)
            raise UserError(f"{self.path} exists and mesaprobe did not write it; move it or choose another --out")
        return fd

    def acquire(self, out: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").removeprefix(LOCK_TAG.decode()).strip(": ")
                os.close(fd)
                raise UserError(f"{out} is being written by another mesaprobe run ({holder or 'starting'}); wait for "
                                "it to finish or choose another --out") from None
            try:  # the previous holder may have removed the file between our open and our lock: lock the new one
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, LOCK_TAG + f": pid {os.getpid()}: {' '.join(sys.argv[:6])}".encode(), 0)
                self.fd = fd
                return
            os.close(fd)
        raise UserError(f"could not lock {self.path}: other runs keep replacing it")

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def clean(directory: str | Path, dry_run: bool = False) -> list[Path]:
    """`mesaprobe clean`: the leftovers of killed runs in `directory` (partial directories recognised exactly, and
    their unheld locks), removed unless `dry_run`; a live run's are skipped, and nothing else is touched."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory")
    names = {m["name"] for p in directory.iterdir() if (m := PARTIAL.match(p.name)) and is_leftover(p)}
    names |= {p.name[1:-len(".lock")] for p in directory.glob(".*.lock") if _is_our_lock(p)}
    gone = []
    for name in sorted(names):
        lock = OutputLock(directory / name)
        had_lock = lock.path.exists()
        try:
            lock.acquire(directory / name)
        except UserError:  # held by a live run
            continue
        try:
            gone += remove_leftovers(directory / name, dry_run)
        finally:
            if dry_run and had_lock:
                os.close(lock.fd)  # leave the file as it was
                lock.fd = None
            lock.release()
        if had_lock:
            gone.append(lock.path)
    return gone


def _is_our_lock(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(len(LOCK_TAG)) == LOCK_TAG
