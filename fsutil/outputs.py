"""Output directories (a model, a run, a sweep's cell) that appear whole or not at all, replace only what mesaprobe
itself wrote, and that two runs never write at once."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.fsutil.atomic import share, write_marker
from mesaprobe.fsutil.checks import check_not_in_use, check_not_inside, check_replaceable, check_writable
from mesaprobe.fsutil.leftovers import PARTIAL_MARKER, OutputLock, claim, new_partial, remove_leftovers

KINDS = ("model", "run", "sweep", "cell")


def preflight(out: str | Path, kind: str, overwrite: bool = False, protect: tuple[Path, ...] = (),
              within: Path | None = None) -> Path:
    """The checks `output_dir` makes on entry, under its lock, and before the rename; returns `out` made absolute.
    `within`: the one mesaprobe directory this output may sit inside (a sweep's, for its cells)."""
    assert kind in KINDS, kind
    out = check_writable(out)
    if out.exists():
        check_not_in_use(out, protect)
    check_not_inside(out, within)
    if out.exists():
        if any(out.iterdir()):
            if not overwrite:
                raise UserError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
            check_replaceable(out, kind)
    return out


@contextlib.contextmanager
def output_dir(out: str | Path, kind: str, overwrite: bool = False, protect: tuple[Path, ...] = (),
               within: Path | None = None):
    """Yield a temporary sibling directory; on success it becomes `out` (with its marker and manifest), on failure
    it is removed. Everything is checked before the caller's work starts, and again before `out` is replaced."""
    out = preflight(out, kind, overwrite, protect, within)
    lock = OutputLock(out)
    lock.acquire(out)
    try:
        preflight(out, kind, overwrite, protect, within)  # again, now that no other mesaprobe run can change it
        remove_leftovers(out)
        tmp = new_partial(out)
        try:
            yield tmp
            write_marker(tmp, kind)
            share(tmp)
            preflight(out, kind, overwrite, protect, within)  # and once more: something else may have written `out`
            if out.exists():
                old = new_partial(out, old=True)
                os.replace(out, old)
                os.replace(tmp, out)
                claim(old, out.name)  # so that a kill -9 right here still leaves a leftover `clean` recognises
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
            os.unlink(out / PARTIAL_MARKER)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        lock.release()
