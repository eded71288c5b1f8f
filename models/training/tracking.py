"""Experiment trackers through accelerate's tracking API (`Accelerator(log_with=...)`): tensorboard, wandb, trackio,
mlflow and the rest accelerate knows, whichever is installed. `--log-with NAME` on `train` logs the training curves
(loss and learning rate every LOG_EVERY steps; PPO: success and learning rate per iteration), on `probe` the
behaviour and every index with its parts (probes/results.py: log_probe_results).
Logs go to DIR/logs (the model or run directory), where `tensorboard --logdir` finds them."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from mesaprobe.errors import UserError

LOG_EVERY = 10  # training steps between logged points
_RUN: dict = {}  # the tracker of the training run in progress (set by `tracking`)


def check_tracker(name: str | None) -> None:
    """Refuse a tracker accelerate does not know or that is not installed, before any work."""
    if name is None:
        return
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, filter_trackers

    if name not in LOGGER_TYPE_TO_CLASS:
        raise UserError(f"--log-with {name!r}: accelerate's trackers are {', '.join(sorted(LOGGER_TYPE_TO_CLASS))}")
    if not filter_trackers([name], logging_dir="logs"):
        raise UserError(f"--log-with {name}: its package is not installed (pip install {name})")


def accelerator_options(log_with: str | None, directory: str | Path | None) -> dict:
    """Accelerator keywords that turn tracking on (none without a tracker or a directory to log into)."""
    if log_with is None or directory is None:
        return {}
    return {"log_with": log_with, "project_dir": str(Path(directory) / "logs")}


@contextmanager
def tracking(log_with: str | None, directory: str | Path | None, config: dict):
    """Within it, the training loops log to `log_with` in DIRECTORY/logs (`run_options`, `start`)."""
    import os

    _RUN.clear()
    before = os.environ.get("TENSORBOARD_LOGGING_DIR")
    if log_with is not None and directory is not None:
        _RUN.update(options=accelerator_options(log_with, directory), config=config)
        os.environ["TENSORBOARD_LOGGING_DIR"] = _RUN["options"]["project_dir"]  # where TRL's tensorboard writes
    try:
        yield
    finally:
        _RUN.clear()
        if before is None:
            os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
        else:
            os.environ["TENSORBOARD_LOGGING_DIR"] = before


def run_options() -> dict:
    """Accelerator keywords of the training run in progress (none when it is not tracked)."""
    return dict(_RUN.get("options", {}))


def start(accelerator, name: str) -> bool:
    """Open the run's trackers on `accelerator` (built with run_options()); whether the run is tracked."""
    if not _RUN:
        return False
    accelerator.init_trackers(name, config=_RUN["config"])
    return True
