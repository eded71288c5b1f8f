"""The Python API: the functions the command line calls.

    import mesaprobe
    mesaprobe.train("argmax", out="models/argmax")
    results = mesaprobe.probe("models/argmax", "argmax", out="runs/argmax")
    probes, causal = mesaprobe.results_frame("runs/argmax")
    print(results["verdict"], probes.sort_values("selectivity").tail())
"""
from __future__ import annotations

from pathlib import Path

from mesaprobe.schema import load_results

__all__ = ["train", "probe", "sweep", "experiment", "load_results", "results_frame", "clean"]


def _task(task, params: dict | None):
    from mesaprobe.tasks import get_task

    return get_task(task, **(params or {})) if isinstance(task, str) else task


def train(task, out: str | Path, method: str = "sl", seed: int = 0, steps: int | None = None,
          params: dict[str, int] | None = None, overwrite: bool = False, progress: bool = True,
          base: str | None = None, lr: float | None = None, size: dict[str, int] | None = None,
          pool: int | None = None) -> dict | None:
    """Train a tiny model on `task` (a name, `file.py:Class`, or a Task), or fine-tune `base` with TRL, and write
    `out`: an HF model directory with training.json and a README.md model card. Returns the training summary.
    Tiny models: `size` overrides the task's n_layer / n_embd / n_head; `pool` = distinct training instances.
    Under `accelerate launch --num_processes N` every process trains (PPO: each on its own episodes, gradients
    averaged; TRL: its own accelerate path) and the main process saves and returns the summary, the others None."""
    import contextlib

    from mesaprobe.fsutil import output_dir
    from mesaprobe.models.train import check_train_options, train_into
    from mesaprobe.reports.card import write_card
    from mesaprobe.runtime import process_state

    task = _task(task, params)
    check_train_options(task, method, steps, base, lr, size, pool)
    protect = (Path(base),) if base and Path(base).exists() else ()
    main = process_state().is_main_process
    with output_dir(out, "model", overwrite, protect) if main else contextlib.nullcontext() as directory:
        summary = train_into(task, method, directory, seed=seed, steps=steps, progress=progress and main,
                             base=base, lr=lr, size=size, pool=pool)
        if not main:
            return None
        write_card(directory, results=[], name=Path(out).name)
    return summary


def probe(model: str | Path, task, out: str | Path, n: int = 1000, seeds: int = 3, folds: int = 5, seed: int = 0,
          params: dict[str, int] | None = None, random_init: bool = False, causal: bool = True,
          dtype: str = "float32", max_layer: int | None = None, trust_remote_code: bool = False,
          overwrite: bool = False, progress: bool = True, steer: str | None = None,
          alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0), steer_episodes: int = 200, device: str = "auto",
          linear_backend: str = "sklearn", causal_layers: tuple[int, ...] | None = None,
          device_map: str | None = None) -> dict | None:
    """Behaviour, activations, linear probes beside their controls, causal probes, indices and verdict of `model`
    on `task`; writes the run directory `out` (results.json among it) and returns the results. Goal tasks:
    `steer` "persistent" (every decision from the first on), "first" or "context" (prompt tokens too; None: the
    task's `steer_mode`), `alphas` tried on validation layouts.
    `device`: auto (CUDA when present), cpu, cuda or cuda:N, for the model and the probe fits; `linear_backend`:
    sklearn (the loop over the cores) or batched (probes/batched.py, on `device`); `causal_layers`: the blocks
    causal probes run at (default: every probed block); `device_map` "auto": spread a model larger than one GPU
    over all of them (accelerate's big-model placement; the memory check says when it is needed). Under `accelerate launch --num_processes N` the processes
    share the activation extraction; the main process writes and returns the results, the others return None."""
    from mesaprobe.probes.run import run_probe

    return run_probe(str(model), _task(task, params), out, n=n, seeds=seeds, folds=folds, random_init=random_init,
                     overwrite=overwrite, progress=progress, seed=seed, causal=causal, dtype=dtype,
                     trust_remote_code=trust_remote_code, max_layer=max_layer, steer=steer, alphas=alphas,
                     steer_episodes=steer_episodes, device=device, linear_backend=linear_backend,
                     causal_layers=causal_layers, device_map=device_map)


def sweep(task: str, out: str | Path, vary: dict[str, list] | None = None, fixed: dict[str, int] | None = None,
          methods: tuple[str, ...] = ("sl",), seeds: int = 1, n: int = 600, data_seeds: int = 2, causal: bool = True,
          steps: int = 0, workers: int = 0, ray: str | None = None, progress: bool = True) -> list[dict]:
    """Train and probe every cell of a grid: `vary` maps task parameters or model knobs (method, layers, width,
    pool, steps) to values; each combination x method x training seed is a cell. Resumable: finished cells in
    `out` are skipped. Writes OUT/sweep.csv, sweep.json and sweep.html; returns the rows."""
    from mesaprobe.sweeps.grid import SweepSpec
    from mesaprobe.sweeps.run import run_sweep

    spec = SweepSpec(task, dict(vary or {}), dict(fixed or {}), tuple(methods), seeds, n, data_seeds, causal, steps)
    return run_sweep(spec, out, workers=workers, ray=ray, progress=progress)


def experiment(name: str, out: str | Path, quick: bool = False, workers: int = 0, ray: str | None = None,
               progress: bool = True) -> list[dict]:
    """A named experiment (sweeps/experiments.py): a preset `sweep` testing one argument; `quick` for a CPU."""
    from mesaprobe.sweeps.experiments import get_experiment
    from mesaprobe.sweeps.run import run_sweep

    return run_sweep(get_experiment(name).spec(quick), out, workers=workers, ray=ray, progress=progress)


def results_frame(run: str | Path):
    """(probe rows, causal rows) of a run as two pandas DataFrames: one row per probe or intervention."""
    import pandas as pd

    results = load_results(run)
    return pd.DataFrame(results["probes"]), pd.DataFrame(results["causal"])


def clean(directory: str | Path) -> list[Path]:
    """Remove what killed runs left in `directory` (hidden partial directories, stale locks)."""
    from mesaprobe.fsutil import clean as clean_leftovers

    return clean_leftovers(directory)
