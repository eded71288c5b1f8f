"""What an output path may be, checked before any work: writable, not a symbolic link, not one of the command's
inputs, not inside a model, run or sweep directory the command did not create, and replaced only when every file in
it is one mesaprobe wrote."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.fsutil.atomic import MARKER, PARTIAL_MARKER, manifest, read_marker, sha256_of

NAME_MAX = 255 - 40  # the filesystem's 255 bytes, less what `.NAME.<pid>.<tag>.old.partial` adds around the name
PATH_MAX = 4096 - 80
REPORT_TAG = '<meta name="generator" content="mesaprobe">'  # in every page mesaprobe writes, so it may replace them


def check_writable(out: str | Path, what: str = "--out", file: bool = False) -> Path:
    """Refuse, before any work, an `out` of the wrong type (a file where a directory goes, or the reverse), a
    symbolic link, or one whose nearest existing ancestor cannot be written. Returns `out` made absolute."""
    out = Path(os.path.abspath(Path(out).expanduser()))  # `new/..` is its parent, named before anything is created
    if not out.name:
        raise UserError(f"{what} {out}: name a directory below the root")
    if len(out.name.encode()) > NAME_MAX or len(str(out).encode()) > PATH_MAX:
        raise UserError(f"{what} {str(out)[:60]}...: too long a name (at most {NAME_MAX} bytes, the hidden partial "
                        f"directory beside it adds its own; a path at most {PATH_MAX})")
    if out.is_symlink():
        target = os.readlink(out)
        raise UserError(f"{what} {out} is a symbolic link (to {target}); name the real path instead")
    if file and out.is_dir():
        raise UserError(f"{what} {out} is a directory; name a file to write")
    if not file and out.exists() and not out.is_dir():
        raise UserError(f"{what} {out} is a file, not a directory")
    ancestor = out.parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise UserError(f"{what} {out}: {ancestor} is a symbolic link to nowhere")
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


def check_not_inside(out: Path, within: Path | None = None, what: str = "--out") -> None:
    """Refuse an `out` inside a model, run or sweep directory (one with mesaprobe's marker), whatever the path's
    spelling; `within` is the one such directory this command created and may write into (a sweep's cells)."""
    real = Path(out).resolve()
    allowed = Path(within).resolve() if within is not None else None
    for parent in real.parents:
        if _ours_in_progress(parent):  # this process's own work in progress: what is above it was checked
            return
        if parent != allowed and (parent / MARKER).is_file():
            kind = (read_marker(parent) or {}).get("kind", "mesaprobe")
            raise UserError(f"will not write {what} {out} inside {parent}: it is a {kind} directory mesaprobe "
                            "wrote; choose a path outside it")


def _ours_in_progress(directory: Path) -> bool:
    try:
        claim = json.loads((directory / PARTIAL_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(claim, dict) and claim.get("pid") == os.getpid()


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
    """May `--overwrite` delete `out`? Only a mesaprobe directory of this kind in which every file, at any depth,
    is one mesaprobe wrote, at the size and with the content (sha256) it wrote it."""
    marker = read_marker(out)
    if marker is None:
        raise UserError(f"--overwrite will not delete {out}: mesaprobe did not write it (no {MARKER} marker); "
                        "remove it yourself or choose another --out")
    if marker.get("kind") != kind:
        raise UserError(f"--overwrite will not delete {out}: it is a mesaprobe {marker.get('kind')} directory, "
                        f"not a {kind} directory")
    if (out / PARTIAL_MARKER).exists():  # a finished directory holds none: this one is a user's file of that name
        raise UserError(f"--overwrite will not delete {out}: it holds {PARTIAL_MARKER}, which mesaprobe did not leave "
                        "in a finished directory; move it first")
    written = marker.get("files")
    if not isinstance(written, dict):
        raise UserError(f"--overwrite will not delete {out}: its marker has no list of the files mesaprobe wrote "
                        "(an older mesaprobe made it); remove it yourself or choose another --out")
    for rel, size in sorted(manifest(out).items()):
        if written.get(rel) != size:
            why = "mesaprobe did not write it" if rel not in written else "it changed since mesaprobe wrote it"
            raise UserError(f"--overwrite will not delete {out}: it holds {rel} ({why}); move it first")
    hashes = marker.get("sha256")
    if not isinstance(hashes, dict):
        raise UserError(f"--overwrite will not delete {out}: its marker records no content hashes (an older mesaprobe "
                        "wrote it), so an edit of the same size could not be seen; remove it yourself or choose "
                        "another --out")
    for rel in sorted(manifest(out)):  # sizes all match: only now read the files
        if hashes.get(rel) != sha256_of(out / rel):
            raise UserError(f"--overwrite will not delete {out}: it holds {rel} (it changed since mesaprobe wrote "
                            "it); move it first")


def check_output_file(out: str | Path, inputs: tuple[Path, ...] = (), what: str = "--out",
                      replace: bool = False) -> Path:
    """A file output (a report page): writable, not one of `inputs` nor inside them or any mesaprobe directory, and
    replacing only a page mesaprobe wrote, or any file where the user said so (`replace`: a table, which carries no
    mark of its writer). Returns `out` made absolute."""
    out = check_writable(out, what, file=True)
    real = out.resolve()
    for source in inputs:
        source = Path(source).expanduser().resolve()
        if real == source or source in real.parents:
            raise UserError(f"will not write {what} {out}: it is, or is inside, {source}, which this command reads")
    check_not_inside(out, what=what)
    if out.is_file() and not replace:
        with open(out, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
        if REPORT_TAG not in head:
            raise UserError(f"will not replace {what} {out}: mesaprobe did not write it; choose another path")
    return out
