"""Shared fixtures: one argmax model trained to the issue's bar, saved as an HF directory, reused by every test; and
the test tiers: a test that uses a fixture which trains is marked `trains` (left out of `make test-fast`)."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

TRAINING_FIXTURES = {"argmax_dir", "gridworld_sl_dir"}  # and every fixture built on them


def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.trains)


@pytest.fixture(scope="session")
def argmax_dir(tmp_path_factory):
    from mesaprobe.api import train

    out = tmp_path_factory.mktemp("models") / "argmax-sl"
    summary = train("argmax", method="sl", out=out, seed=0, progress=False)
    return out, summary


@pytest.fixture(scope="session")
def argmax_run(argmax_dir, tmp_path_factory):
    from mesaprobe.probes.run import run_probe
    from mesaprobe.tasks import get_task

    out = tmp_path_factory.mktemp("runs") / "argmax-sl"
    return out, run_probe(str(argmax_dir[0]), get_task("argmax"), out, n=600, seeds=2, folds=5, progress=False)


@pytest.fixture(scope="session")
def gridworld_sl_dir(tmp_path_factory):
    from mesaprobe.api import train

    out = tmp_path_factory.mktemp("models") / "gridworld-sl"
    train("gridworld", method="sl", out=out, seed=0, progress=False)
    return out
