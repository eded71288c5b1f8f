"""A user's data is never lost, and a failure that could lose it is one `error:` line: each case reproduces a failure
found on main (bad input in general: tests/test_cli.py)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from mesaprobe.cli import app

runner = CliRunner()
CLI = [sys.executable, "-m", "mesaprobe.cli"]


def test_overwrite_dot_keeps_the_users_files(tmp_path, monkeypatch, one_error_line):
    (tmp_path / "sentinel.txt").write_text("keep me")
    monkeypatch.chdir(tmp_path)
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", ".", "--overwrite", "--steps", "5"]),
                   "current directory")
    assert (tmp_path / "sentinel.txt").read_text() == "keep me"


def test_overwrite_never_deletes_the_model_being_probed(model_copy, one_error_line):
    result = runner.invoke(app, ["probe", str(model_copy), "argmax", "--out", str(model_copy), "--overwrite"])
    one_error_line(result, "which this command reads")
    assert (model_copy / "model.safetensors").is_file()


def test_two_probes_into_one_out_never_both_succeed(model_copy, tmp_path):
    """Two processes, the second started while the first holds --out: one result set, never a silent replace."""
    out = tmp_path / "same"
    args = ["probe", str(model_copy), "argmax", "--out", str(out), "--n", "60", "--seeds", "1", "--folds", "3",
            "--no-causal"]
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    first = subprocess.Popen(CLI + args + ["--seed", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 60
    while not (tmp_path / ".same.lock").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(CLI + args + ["--seed", "5"], env=env, capture_output=True, text=True)
    out_first, err_first = first.communicate(timeout=300)
    assert first.returncode == 0, err_first
    assert second.returncode == 2 and second.stderr.startswith("error: "), second.stderr
    assert ("being written by another mesaprobe run" in second.stderr or "already exists" in second.stderr)
    assert json.loads((out / "config.json").read_text())["seed"] == 0


@pytest.mark.slow
def test_a_killed_probe_leaves_no_worker_and_its_leftovers_are_cleaned(model_copy, tmp_path):
    """kill -9 in the middle of the linear probes: the loky workers exit on their own, `clean` removes the partial
    directory. SIGTERM instead: the run removes its own partial directory and lock."""
    import psutil

    args = ["probe", str(model_copy), "argmax", "--out", str(tmp_path / "r"), "--n", "300", "--seeds", "3"]
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    for sig in (signal.SIGKILL, signal.SIGTERM):
        proc = subprocess.Popen(CLI + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        parent, workers, deadline = psutil.Process(proc.pid), [], time.time() + 120
        while not workers and time.time() < deadline:
            workers = [p for p in parent.children(recursive=True) if "LokyProcess" in " ".join(p.cmdline())]
            time.sleep(0.2)
        assert workers, "the probe never reached its linear probes"
        proc.send_signal(sig)
        proc.wait(timeout=60)
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"workers outlived their parent: {alive}"
        if sig == signal.SIGKILL:
            assert list(tmp_path.glob(".r.*.partial"))
            result = runner.invoke(app, ["clean", str(tmp_path)])
            assert result.exit_code == 0 and "removed" in result.output
        else:
            assert proc.returncode == 128 + signal.SIGTERM
        assert not list(tmp_path.glob(".r.*")) and not (tmp_path / "r").exists()


def test_card_keeps_a_users_readme_and_writes_only_after_a_successful_push(model_copy, monkeypatch, one_error_line):
    readme = model_copy / "README.md"
    readme.write_text("# My notes\nhand-written\n")
    one_error_line(runner.invoke(app, ["card", str(model_copy)]), "--replace-readme")
    assert readme.read_text() == "# My notes\nhand-written\n"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    failed = runner.invoke(app, ["card", str(model_copy), "--replace-readme", "--push", "me/m"])
    one_error_line(failed, "HF_HUB_OFFLINE is set")
    assert readme.read_text() == "# My notes\nhand-written\n"  # a failed push writes nothing
    assert runner.invoke(app, ["card", str(model_copy), "--replace-readme"]).exit_code == 0
    assert "mesaprobe" in readme.read_text()
    assert runner.invoke(app, ["card", str(model_copy)]).exit_code == 0  # our own card is ours to rewrite


def test_push_errors_say_what_to_check(model_copy, monkeypatch, one_error_line):
    import httpx
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    class Unauthorised:
        def create_repo(self, *a, **k):
            response = httpx.Response(401, request=httpx.Request("POST", "https://example.invalid"))
            raise HfHubHTTPError("401 Client Error: Unauthorized", response=response)

    class Unreachable:
        def create_repo(self, *a, **k):
            raise httpx.ConnectError("Name or service not known")

    class Odd:
        def create_repo(self, *a, **k):
            raise RuntimeError("server said no to hf_Secret123Value\nsecond line")

    for api, message in ((Unauthorised, "check your Hugging Face token"), (Unreachable, "check the network"),
                         (Odd, "RuntimeError: server said no to hf_***")):
        monkeypatch.setattr(huggingface_hub, "HfApi", api)
        result = runner.invoke(app, ["card", str(model_copy), "--push", "me/m"])
        one_error_line(result, message)
        assert "Secret123Value" not in result.output


def test_trained_and_probed_directories_follow_the_umask(model_copy, tmp_path):
    old = os.umask(0o022)
    try:
        result = runner.invoke(app, ["probe", str(model_copy), "argmax", "--out", str(tmp_path / "r"), "--n", "60",
                                     "--seeds", "1", "--folds", "3", "--no-causal"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    modes = {p.stat().st_mode & 0o777 for p in (tmp_path / "r").rglob("*")}
    assert modes <= {0o644, 0o755} and (tmp_path / "r").stat().st_mode & 0o777 == 0o755


# Issue 30: outputs never land on inputs or inside what mesaprobe wrote; a full disk and a symlinked --out are one line.

def test_report_never_writes_onto_its_run_or_inside_a_model(argmax_run, model_copy, tmp_path, one_error_line):
    run = argmax_run[0]
    before = (run / "results.json").read_bytes()
    for out in (run / "results.json", run / ".." / run.name / "page.html", model_copy / "model.safetensors"):
        one_error_line(runner.invoke(app, ["report", str(run), "--out", str(out)]), "will not write --out")
    assert (run / "results.json").read_bytes() == before and (model_copy / "model.safetensors").stat().st_size > 1000
    (tmp_path / "notes.html").write_text("<p>my notes</p>")
    one_error_line(runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "notes.html")]),
                   "mesaprobe did not write it")
    page = tmp_path / "page.html"
    assert runner.invoke(app, ["report", str(run), "--out", str(page)]).exit_code == 0
    assert runner.invoke(app, ["report", str(run), "--out", str(page)]).exit_code == 0  # its own page: replaced


def test_probe_and_train_never_write_inside_a_model_directory(model_copy, one_error_line):
    one_error_line(runner.invoke(app, ["probe", str(model_copy), "argmax", "--out", str(model_copy / "run")]),
                   "it is a model directory")
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", str(model_copy / "sub"), "--steps", "5"]),
                   "it is a model directory")
    assert sorted(p.name for p in model_copy.iterdir()) == sorted(
        [".mesaprobe", *json.loads((model_copy / ".mesaprobe").read_text())["files"]])


def test_train_overwrite_keeps_a_hand_written_readme(model_copy, one_error_line):
    (model_copy / "README.md").write_text("# my notes on this model")
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", str(model_copy), "--overwrite", "--steps", "5"]),
                   "README.md (it changed since mesaprobe wrote it)")
    assert (model_copy / "README.md").read_text() == "# my notes on this model"


def test_a_full_disk_is_one_line_and_keeps_the_previous_output(argmax_run, model_copy, tmp_path, monkeypatch,
                                                               one_error_line):
    import errno

    import mesaprobe.reports.html as html

    page = tmp_path / "page.html"
    assert runner.invoke(app, ["report", str(argmax_run[0]), "--out", str(page)]).exit_code == 0
    before = page.read_text()

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(html, "atomic_write_text", full)
    one_error_line(runner.invoke(app, ["report", str(argmax_run[0]), "--out", str(page)]), "no space left")
    assert page.read_text() == before

    import mesaprobe.models.save as save

    def full_weights(*a, **k):  # what safetensors raises: its own exception type, the OS message inside
        raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "
                           "\"No space left on device\" })")

    monkeypatch.setattr(save, "save_model_dir", full_weights)
    listing = sorted(os.listdir(model_copy))
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", str(model_copy), "--overwrite", "--steps", "5"]),
                   "no space left")
    assert sorted(os.listdir(model_copy)) == listing and not list(model_copy.parent.glob(".mcopy.*"))


def test_a_symlinked_out_is_one_line_before_any_work(tmp_path, one_error_line):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    one_error_line(runner.invoke(app, ["train", "argmax", "--out", str(tmp_path / "dangling"), "--steps", "5"]),
                   "is a symbolic link")
    assert os.path.islink(tmp_path / "dangling") and not (tmp_path / "nowhere").exists()


def test_clean_dry_run_lists_and_keeps(tmp_path):
    (tmp_path / ".backup.2023.partial").mkdir()
    (tmp_path / ".myproject.lock").write_text("mine")
    result = runner.invoke(app, ["clean", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0 and result.output.strip() == "nothing to clean"
    assert (tmp_path / ".backup.2023.partial").is_dir() and (tmp_path / ".myproject.lock").read_text() == "mine"


@pytest.mark.slow  # three processes beside the suite's two workers: 36-46 s of `make test`'s 5 minutes
def test_a_sweep_stops_within_seconds_of_sigterm_and_keeps_what_finished(tmp_path):
    """Its process pool used to wait for every queued cell (~3 min in the audit) and then write nothing."""
    import psutil

    out = tmp_path / "s"
    args = CLI + ["sweep", "argmax", "--vary", "steps=40,40000,40001,40002", "--n", "80", "--data-seeds", "1",
                  "--no-causal", "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ | {"HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 180
    while not list((out / "cells").glob("*/row.json")) and time.time() < deadline:
        time.sleep(0.1)
    workers = psutil.Process(proc.pid).children(recursive=True)
    start = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert time.time() - start < 30 and proc.returncode == 128 + signal.SIGTERM, err
    assert "sweep stopped: 1 of 4 cells finished" in err, err
    assert (out / "sweep.csv").read_text().count("\n") == 2  # the header and the finished cell
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
