"""Writing what a user keeps: atomic files, and output directories that appear whole or not at all, that only
replace what mesaprobe itself wrote, and that two runs never write at once.

An output directory (a model, a run, a sweep) is built in a hidden sibling `.NAME.<pid>.partial` and renamed into
place when complete. It carries a marker file, `.mesaprobe`, naming its kind and the entries it was written with:
`--overwrite` replaces only such a directory, of the same kind, holding nothing else. A lock file `.NAME.lock`
(an OS lock: released when its process exits, however it exits) keeps a second run off the same `--out`; whoever
holds it removes the partial directories a killed run left behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from mesaprobe.errors import UserError

MARKER = ".mesaprobe"
KINDS = ("model", "run", "sweep", "cell")


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def atomic_write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; name a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; files get the user's umask like any other tool's
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | Path, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def check_writable(out: str | Path, what: str = "--out", file: bool = False) -> Path:
    """Refuse, before any work, an `out` of the wrong type (a file where a directory goes, or the reverse) or whose
    nearest existing ancestor cannot be written."""
    out = Path(out).expanduser().absolute()
    if file and out.is_dir():
        raise UserError(f"{what} {out} is a directory; name a file to write")
    if not file and out.exists() and not out.is_dir():
        raise UserError(f"{what} {out} is a file, not a directory")
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"{what} {out}: {ancestor} is a file, not a directory")
    try:  # a real write: permissions, read-only mounts and root's exceptions all answer here
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=".mesaprobe-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{what} {out}: cannot write in {ancestor} ({exc.strerror or type(exc).__name__})") from None
    return out


def read_marker(path: Path) -> dict | None:
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def check_not_in_use(out: Path, protect: tuple[Path, ...] = ()) -> None:
    """An existing `out` is replaced as a whole: never the current directory or a parent of it, nor a directory
    holding a protected path (the model being probed)."""
    real = out.resolve()
    cwd = Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise UserError(f"will not replace {out}: it is the current directory or one of its parents")
    for p in protect:
        p = Path(p).expanduser().resolve()
        if real == p or real in p.parents:
            raise UserError(f"will not replace {out}: it holds {p}, which this command reads")


def check_replaceable(out: Path, kind: str) -> None:
    """May `--overwrite` delete `out`? Only a mesaprobe directory of this kind holding nothing it did not write."""
    marker = read_marker(out)
    if marker is None:
        raise UserError(f"--overwrite will not delete {out}: mesaprobe did not write it (no {MARKER} marker); "
                        "remove it yourself or choose another --out")
    if marker.get("kind") != kind:
        raise UserError(f"--overwrite will not delete {out}: it is a mesaprobe {marker.get('kind')} directory, "
                        f"not a {kind} directory")
    foreign = sorted(set(os.listdir(out)) - set(marker.get("entries", [])) - {MARKER})
    if foreign:
        raise UserError(f"--overwrite will not delete {out}: it holds files mesaprobe did not write "
                        f"({', '.join(foreign[:5])}); move them first")


class OutputLock:
    """An exclusive, non-blocking OS lock on `.NAME.lock` beside `out`, released when the process exits."""

    def __init__(self, out: Path):
        self.path = out.parent / f".{out.name}.lock"
        self.fd: int | None = None

    def acquire(self, out: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{out} is being written by another mesaprobe run ({holder}); wait for it to finish "
                            "or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv[:6])}".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def remove_leftovers(out: Path) -> list[Path]:
    """Partial directories a killed run left beside `out` (call only while holding its lock)."""
    gone = []
    for tmp in out.parent.glob(f".{out.name}.*.partial"):
        shutil.rmtree(tmp, ignore_errors=True)
        gone.append(tmp)
    return gone


LEFTOVER = re.compile(r"^\.(?P<name>.+?)(?:\.\d+)?\.[a-z0-9_]+\.partial$|^\.(?P<locked>.+)\.lock$")


def clean(directory: str | Path) -> list[Path]:
    """`mesaprobe clean`: remove the leftovers of killed runs in `directory`; skip those a live run still holds."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory")
    names = {m["name"] or m["locked"] for p in directory.iterdir() if (m := LEFTOVER.match(p.name))}
    gone = []
    for name in sorted(names):
        lock = OutputLock(directory / name)
        try:
            lock.acquire(directory / name)
        except UserError:
            continue
        try:
            gone += remove_leftovers(directory / name)
        finally:
            lock.release()
    return gone


def share(root: Path) -> None:
    """Give everything under `root` the user's umask, as any other tool's files get (some writers, safetensors
    among them, create files 0600)."""
    umask = _umask()
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def preflight(out: str | Path, kind: str, overwrite: bool = False, protect: tuple[Path, ...] = ()) -> Path:
    """The checks `output_dir` makes on entry, under its lock, and before the rename; returns `out` made absolute."""
    assert kind in KINDS, kind
    out = check_writable(out)
    if out.exists():
        check_not_in_use(out, protect)
        if any(out.iterdir()):
            if not overwrite:
                raise UserError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
            check_replaceable(out, kind)
    return out


@contextlib.contextmanager
def output_dir(out: str | Path, kind: str, overwrite: bool = False, protect: tuple[Path, ...] = ()):
    """Yield a temporary sibling directory; on success it becomes `out` (with its marker), on failure it is removed.
    Everything is checked before the caller's work starts, and again before `out` is replaced."""
    out = preflight(out, kind, overwrite, protect)
    lock = OutputLock(out)
    lock.acquire(out)
    try:
        preflight(out, kind, overwrite, protect)  # again, now that no other mesaprobe run can change it
        remove_leftovers(out)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{os.getpid()}.", suffix=".partial"))
        try:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700; a lab shares its results directories
            yield tmp
            entries = sorted(os.listdir(tmp))
            atomic_write_json(tmp / MARKER, {"kind": kind, "entries": entries})
            share(tmp)
            preflight(out, kind, overwrite, protect)  # and once more: something else may have written `out`
            if out.exists():
                old = out.parent / f".{out.name}.{os.getpid()}.old.partial"
                os.replace(out, old)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        lock.release()
