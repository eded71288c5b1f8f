"""Output directories: atomic, replaced only when mesaprobe wrote them, locked against a second run, cleaned after
a killed one, shared under the user's umask."""
import json
import os
import subprocess
import sys
import time

import pytest

from mesaprobe.errors import UserError
from mesaprobe.fsutil import MARKER, clean, output_dir, preflight


def write_run(path, files=("results.json",)):
    with output_dir(path, "run") as tmp:
        for name in files:
            (tmp / name).write_text("{}")
    return path


def test_a_finished_output_carries_its_marker_and_replaces_only_with_overwrite(tmp_path):
    out = write_run(tmp_path / "run")
    assert json.loads((out / MARKER).read_text()) == {"kind": "run", "entries": ["results.json"]}
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
            sentinel, message = out / "notes.txt", "files mesaprobe did not write"
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
        assert [p.name.split(".")[1] for p in gone] == ["dead"]
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
