"""Output directories: atomic, replaced only when mesaprobe wrote them, locked against a second run, cleaned after
a killed one, shared under the user's umask."""
import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from mesaprobe.errors import UserError
from mesaprobe.fsutil import MARKER, clean, output_dir, preflight


def write_run(path, files=("results.json",), overwrite=False):
    with output_dir(path, "run", overwrite) as tmp:
        for name in files:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text("{}")
    return path


def test_a_finished_output_carries_its_marker_and_replaces_only_with_overwrite(tmp_path):
    out = write_run(tmp_path / "run")
    assert json.loads((out / MARKER).read_text()) == {"kind": "run", "files": {"results.json": 2},
                                                      "sha256": {"results.json": hashlib.sha256(b"{}").hexdigest()}}
    with pytest.raises(UserError, match="already exists"):
        write_run(out)
    with output_dir(out, "run", overwrite=True) as tmp:
        (tmp / "new.json").write_text("{}")
    assert sorted(os.listdir(out)) == [MARKER, "new.json"]


@pytest.mark.parametrize("case", ["no marker", "foreign file", "other kind"])
def test_overwrite_refuses_what_mesaprobe_did_not_write(tmp_path, case):
    out = tmp_path / "out"
    if case == "no marker":
        out.mkdir()
        (out / "thesis.tex").write_text("years of work")
        sentinel, message = out / "thesis.tex", "mesaprobe did not write it"
    else:
        write_run(out)
        if case == "foreign file":
            (out / "notes.txt").write_text("mine")
            sentinel, message = out / "notes.txt", "notes.txt \\(mesaprobe did not write it\\)"
        else:
            sentinel, message = out / "results.json", "not a model directory"
    kind = "model" if case == "other kind" else "run"
    with pytest.raises(UserError, match=message):
        with output_dir(out, kind, overwrite=True):
            pass
    assert sentinel.is_file()


def test_overwrite_never_deletes_the_current_directory_or_its_parents(tmp_path, monkeypatch):
    here = write_run(tmp_path / "project")
    (here / "child").mkdir()
    monkeypatch.chdir(here / "child")
    for target in (".", ".."):
        with pytest.raises(UserError, match="will not replace .* current directory or one of its parents"):
            preflight(target, "run", overwrite=True)
    assert (here / "results.json").is_file()


def test_overwrite_never_deletes_a_protected_path(tmp_path):
    out = write_run(tmp_path / "run")
    with pytest.raises(UserError, match="will not replace .* which this command reads"):
        preflight(out, "run", overwrite=True, protect=(out,))


def test_an_output_that_names_a_file_or_an_unwritable_place_is_refused_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        preflight(tmp_path / "file", "run")
    with pytest.raises(UserError, match="is a file, not a directory"):
        preflight(tmp_path / "file" / "run", "run")
    with pytest.raises(UserError, match="cannot write in /proc"):  # refused even for root: a real write is tried
        preflight("/proc/mesaprobe-run", "run")


HOLD = """
import sys, time
from mesaprobe.fsutil import output_dir
with output_dir(sys.argv[1], "run") as tmp:
    (tmp / "half.json").write_text("{}")
    print("holding", flush=True)
    time.sleep(60)
"""


def hold_lock(out):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_writer_is_refused_with_the_first_ones_pid_and_a_dead_ones_lock_is_stale(tmp_path):
    out = tmp_path / "same"
    holder = hold_lock(out)
    try:
        with pytest.raises(UserError, match=f"being written by another mesaprobe run \\(pid {holder.pid}"):
            write_run(out)
        partials = list(tmp_path.glob(".same.*.partial"))
        assert len(partials) == 1  # the live run's work in progress is untouched
    finally:
        holder.kill()
        holder.wait()
    assert list(tmp_path.glob(".same.*.partial"))  # kill -9 leaves its partial directory behind...
    write_run(out)  # ...the OS released the lock with the process, and the next run removes the leftovers
    assert not list(tmp_path.glob(".same.*.partial")) and (out / "results.json").is_file()


def test_clean_removes_a_killed_runs_leftovers_but_not_a_live_runs(tmp_path):
    dead, live = hold_lock(tmp_path / "dead"), hold_lock(tmp_path / "live")
    try:
        dead.kill()
        dead.wait()
        gone = clean(tmp_path)
        assert sorted(p.name.split(".")[1] for p in gone) == ["dead", "dead"]  # its partial directory and its lock
        assert not list(tmp_path.glob(".dead.*")) and list(tmp_path.glob(".live.*.partial"))
    finally:
        live.kill()
        live.wait()


def test_files_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with output_dir(tmp_path / "run", "run") as tmp:
            (tmp / "sub").mkdir()
            fd = os.open(tmp / "sub" / "private.bin", os.O_CREAT | os.O_WRONLY, 0o600)  # as safetensors writes
            os.close(fd)
    finally:
        os.umask(old)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "run" / "sub" / "private.bin").stat().st_mode & 0o777 == 0o640


# Issue 30: nothing but what mesaprobe generated is ever removed, and only once its process is gone.

def test_writing_an_output_never_touches_another_outputs_work_in_progress(tmp_path):
    """`probe ... --out c/x.v2 &` then `train ... --out c/x` deleted the probe's live `.x.v2.<pid>...partial`."""
    holder = hold_lock(tmp_path / "x.v2")
    try:
        write_run(tmp_path / "x")
        assert len(list(tmp_path.glob(".x.v2.*.partial"))) == 1
        assert clean(tmp_path) == [] and len(list(tmp_path.glob(".x.v2.*.partial"))) == 1
    finally:
        holder.kill()
        holder.wait()
    with output_dir(tmp_path / "x", "run", overwrite=True):  # the dead x.v2's leftovers belong to x.v2 alone
        pass
    assert len(list(tmp_path.glob(".x.v2.*.partial"))) == 1
    assert [p.name.split(".")[1] for p in clean(tmp_path, dry_run=True)] == ["x", "x"]  # `.x.v2.*`, `.x.v2.lock`
    assert len(list(tmp_path.glob(".x.v2.*.partial"))) == 1  # a dry run removes nothing


def test_clean_leaves_a_users_look_alike_files(tmp_path):
    (tmp_path / ".myproject.lock").write_text("my lock")
    for name in (".backup.2023.partial", ".data.1.old.partial", ".x.12345.abcdef12.partial"):  # the last: no claim
        (tmp_path / name).mkdir()
        (tmp_path / name / "work.txt").write_text("mine")
    live = tmp_path / f".y.{os.getpid()}.0123abcd.partial"  # claimed, but its process (this one) is alive
    live.mkdir()
    (live / ".mesaprobe-partial").write_text(json.dumps({"output": "y", "pid": os.getpid(),
                                                         "host": __import__("socket").gethostname()}))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert clean(tmp_path) == [] and clean(tmp_path, dry_run=True) == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / ".myproject.lock").read_text() == "my lock"


def test_a_lock_file_mesaprobe_did_not_write_is_neither_truncated_nor_deleted(tmp_path):
    (tmp_path / ".out.lock").write_text("the user's own file")
    with pytest.raises(UserError, match="exists and mesaprobe did not write it"):
        write_run(tmp_path / "out")
    assert (tmp_path / ".out.lock").read_text() == "the user's own file" and not (tmp_path / "out").exists()


def test_overwrite_refuses_a_foreign_or_changed_file_at_any_depth(tmp_path):
    out = write_run(tmp_path / "r", ("results.json", "data/seed0.json"))
    (out / "data" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="data/notes.txt \\(mesaprobe did not write it\\)"):
        write_run(out, overwrite=True)
    (out / "data" / "notes.txt").unlink()
    (out / "data" / "seed0.json").write_text('{"edited": true}')
    with pytest.raises(UserError, match="data/seed0.json \\(it changed since mesaprobe wrote it\\)"):
        write_run(out, overwrite=True)
    assert (out / "data" / "seed0.json").read_text() == '{"edited": true}'


def test_an_output_inside_a_mesaprobe_directory_is_refused_however_spelled(tmp_path, monkeypatch):
    run = write_run(tmp_path / "r")
    (tmp_path / "link").symlink_to(run)
    monkeypatch.chdir(run)
    for spelling in (run / "inner", tmp_path / "link" / "inner", "inner", tmp_path / "other" / ".." / "r" / "x"):
        with pytest.raises(UserError, match="inside .* it is a run directory"):
            preflight(spelling, "run")


@pytest.mark.parametrize("target", ["dangling", "empty directory"])
def test_a_symlinked_out_is_refused_and_left_as_it_was(tmp_path, target):
    dest = tmp_path / "elsewhere"
    if target == "empty directory":
        dest.mkdir()
    (tmp_path / "out").symlink_to(dest)
    with pytest.raises(UserError, match="is a symbolic link"):
        write_run(tmp_path / "out")
    assert os.readlink(tmp_path / "out") == str(dest) and not list(tmp_path.glob(".out*"))


def test_overwrite_refuses_an_edit_of_the_same_size_and_names_the_file(tmp_path):
    out = write_run(tmp_path / "run", files=("results.json", "training.json"))
    (out / "training.json").write_text("[]")  # same size, other content: a user's edit
    with pytest.raises(UserError, match="training.json \\(it changed since mesaprobe wrote it\\)"):
        write_run(out, overwrite=True)
    assert (out / "training.json").read_text() == "[]"


def test_overwrite_refuses_a_marker_without_content_hashes(tmp_path):
    out = write_run(tmp_path / "run")
    marker = json.loads((out / MARKER).read_text())
    (out / MARKER).write_text(json.dumps({"kind": "run", "files": marker["files"]}))  # as an older version wrote it
    with pytest.raises(UserError, match="records no content hashes"):
        write_run(out, overwrite=True)


def test_overwrite_refuses_a_user_file_named_like_the_partial_marker(tmp_path):
    from mesaprobe.fsutil.atomic import PARTIAL_MARKER

    out = write_run(tmp_path / "run")
    (out / PARTIAL_MARKER).write_text("my notes")
    with pytest.raises(UserError, match="mesaprobe did not leave"):
        write_run(out, overwrite=True)
    assert (out / PARTIAL_MARKER).read_text() == "my notes"
