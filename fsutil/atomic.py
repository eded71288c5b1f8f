"""Files that appear whole or not at all, under the user's umask, and the manifest of what mesaprobe wrote."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from mesaprobe.errors import UserError

MARKER = ".mesaprobe"  # in every directory mesaprobe finished: its kind and the files it wrote (sizes, sha256)
PARTIAL_MARKER = ".mesaprobe-partial"  # in work in progress: whose it is (fsutil/leftovers.py)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory; name a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp creates 0600; files get the user's umask like any other tool's
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | Path, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def share(root: Path) -> None:
    """Give everything under `root` the user's umask, as any other tool's files get (some writers, safetensors
    among them, create files 0600)."""
    mask = umask()
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def manifest(root: Path) -> dict[str, int]:
    """Every file (and symbolic link) under `root` at any depth, as {relative path: size}; the markers left out."""
    files = {}
    for folder, dirs, names in os.walk(root):  # symbolic links to directories are listed, never followed
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if rel not in (MARKER, PARTIAL_MARKER):
                files[rel] = path.lstat().st_size
    return files


def sha256_of(path: Path) -> str:
    """A file's sha256 (a symbolic link's: of its target's name, never followed)."""
    if path.is_symlink():
        return hashlib.sha256(os.readlink(path).encode()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digests(root: Path, names=None) -> dict[str, str]:
    """{relative path: sha256} of every file `manifest` lists (or of `names`)."""
    return {rel: sha256_of(Path(root) / rel) for rel in (manifest(root) if names is None else names)}


def read_json_object(path: Path, what: str = "") -> dict:
    """A JSON object from `path` ({} when there is no file), or one UserError line naming the file: never a
    traceback for a truncated or hand-edited file."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({type(exc).__name__}: {str(exc).splitlines()[0]}){what}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is a JSON {type(data).__name__}, not the object mesaprobe writes there{what}")
    return data


def read_marker(path: Path) -> dict | None:
    try:
        marker = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def write_marker(directory: Path, kind: str) -> None:
    """Record `directory` as a finished mesaprobe output of `kind` holding exactly what is in it now: each file's
    size and content hash, read once here as the directory is finished."""
    atomic_write_json(directory / MARKER, {"kind": kind, "files": manifest(directory), "sha256": digests(directory)})


def record_written(directory: Path, *names: str) -> None:
    """Add files mesaprobe has just written into one of its finished directories (a card's README.md) to its
    manifest, so that `--overwrite` may replace them later."""
    marker = read_marker(directory)
    if marker is None or not isinstance(marker.get("files"), dict):
        return
    for name in names:
        marker["files"][name] = (Path(directory) / name).lstat().st_size
        if isinstance(marker.get("sha256"), dict):
            marker["sha256"][name] = sha256_of(Path(directory) / name)
    atomic_write_json(Path(directory) / MARKER, marker)


def changed_since_written(directory: Path, name: str) -> bool | None:
    """Has `name` in a mesaprobe directory changed since mesaprobe wrote it? None: the marker does not record it."""
    marker = read_marker(directory) or {}
    recorded = (marker.get("sha256") or {}).get(name) if isinstance(marker.get("sha256"), dict) else None
    if recorded is None:
        return None
    path = Path(directory) / name
    return not path.exists() or sha256_of(path) != recorded
