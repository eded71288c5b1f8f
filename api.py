"""The Python API: the functions the command line calls.

    import mesaprobe
    mesaprobe.train("argmax", out="models/argmax")
    results = mesaprobe.probe("models/argmax", "argmax", out="runs/argmax")
    probes, causal = mesaprobe.results_frame("runs/argmax")
    print(results["verdict"], probes.sort_values("selectivity").tail())
"""
from __future__ import annotations

from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.schema import load_results

__all__ = ["train", "probe", "sweep", "experiment", "load_results", "results_frame", "clean"]


def _task(task, params: dict | None):
    from mesaprobe.tasks import get_task

    return get_task(task, **(params or {})) if isinstance(task, str) else task


def train(task, out: str | Path, params: dict[str, int] | None = None, options=None, **overrides) -> dict | None:
    """Train a tiny model on `task` (a name, `file.py:Class`, or a Task), or fine-tune a `base` with TRL, and write
    `out`: an HF model directory with training.json and a README.md model card. Returns the training summary.
    `options`: a TrainOptions (models/training/options.py); keywords replace its fields (the signature lists them,
    typed). Under `accelerate launch --num_processes N` (or with `processes=N`, which starts them: launch.py) every process
    trains (each on its share of every batch, gradients averaged; TRL: its own accelerate path) and the main process
    saves and returns the summary, the others None.
    PPO on one process saves its state beside `out` (`.NAME.resume/`) as it goes: run the same call again after a
    stop and it continues from there."""
    import contextlib
    import sys

    from mesaprobe.errors import replace_checked
    from mesaprobe.fsutil import output_dir
    from mesaprobe.models.training.options import TrainOptions
    from mesaprobe.models.training.resume_state import ResumeDir, saved_iteration
    from mesaprobe.models.training.train import train_into
    from mesaprobe.reports.card import write_card
    from mesaprobe.runtime import process_state

    spec, task = task, _task(task, params)
    opts = replace_checked(options or TrainOptions(), overrides)
    opts.check(task)
    protect = (Path(opts.base),) if opts.base and Path(opts.base).exists() else ()
    if opts.processes > 1 and process_state().num_processes == 1:
        from mesaprobe.fsutil.outputs import preflight
        from mesaprobe.launch import train_in_processes

        preflight(out, "model", opts.overwrite, protect)  # a refused --out: one line here, before any process starts
        return train_in_processes(spec, out, params, opts)
    main = process_state().is_main_process
    resume = ResumeDir(Path(out).parent / f".{Path(out).name}.resume")  # PPO's saved state (resume_state.py)
    try:
        with output_dir(out, "model", opts.overwrite, protect) if main else contextlib.nullcontext() as directory:
            summary = train_into(task, opts, directory, resume)
            if not main:
                return None
            write_card(directory, results=[], name=Path(out).name)
    except (KeyboardInterrupt, SystemExit):
        if resume.ours and resume.identity is not None and saved_iteration(resume.path) is not None:
            print(f"PPO's state at its last saved iteration is kept in {resume.path}: the same command resumes from "
                  "it", file=sys.stderr)
        raise
    resume.discard()
    return summary


def probe(model: str | Path, task, out: str | Path, params: dict[str, int] | None = None, options=None,
          **overrides) -> dict | None:
    """Behaviour, activations, linear probes beside their controls, causal probes, indices and verdict of `model`
    on `task`; writes the run directory `out` (results.json among it) and returns the results.
    `options`: a ProbeOptions (probes/options.py, where each field is explained); keywords replace its fields (the
    signature lists them, typed). Under `accelerate launch --num_processes N` the processes share the activation
    extraction; the main process writes and returns the results, the others return None."""
    from mesaprobe.probes.run import run_probe

    if isinstance(task, str) and not params:
        params = _trained_params(model, task)
    return run_probe(str(model), _task(task, params), out, options, **overrides)


def _trained_params(model, task: str) -> dict | None:
    """The task parameters a model trained here on `task` was trained with (its mesaprobe.json), so that probing it
    by the task's name alone probes the task it learned (a closest-to-a-target model is not probed on largest)."""
    import sys

    from mesaprobe.fsutil.atomic import read_json_object
    from mesaprobe.tasks import task_class

    trained = read_json_object(Path(model) / "mesaprobe.json") if Path(model).is_dir() else {}
    if trained.get("name") != task or not isinstance(trained.get("params"), dict):
        return None
    declared = task_class(task).PARAMS
    params = {k: v for k, v in trained["params"].items() if k in declared}
    changed = {k: v for k, v in params.items() if v != declared[k].default}
    if changed:
        print(f"note: probing {task} with the parameters {model} was trained with "
              f"({', '.join(f'{k}={v}' for k, v in changed.items())}); pass -p to probe others", file=sys.stderr)
    return params


def sweep(task: str, out: str | Path, vary: dict[str, list] | None = None, fixed: dict[str, int] | None = None,
          methods: tuple[str, ...] = ("sl",), seeds: int = 1, n: int = 600, data_seeds: int = 2, causal: bool = True,
          steps: int = 0, workers: int = 0, ray: str | None = None, progress: bool = True,
          until_bar: bool = False, log_with: str | None = None) -> list[dict]:
    """Train and probe every cell of a grid: `vary` maps task parameters or model knobs (method, layers, width,
    pool, steps) to values; each combination x method x training seed is a cell; `until_bar`: each cell trains until
    its behaviour bar, `steps` at most. Resumable: finished cells in `out` are skipped. Writes OUT/sweep.csv, sweep.json and sweep.html; returns the rows."""
    from mesaprobe.sweeps.grid import SweepSpec
    from mesaprobe.sweeps.run import run_sweep

    spec = SweepSpec(task, dict(vary or {}), dict(fixed or {}), tuple(methods), seeds, n, data_seeds, causal, steps,
                     until_bar)
    return run_sweep(spec, out, workers=workers, ray=ray, progress=progress, log_with=log_with)


def experiment(name: str, out: str | Path, size: str = "full", workers: int = 0, ray: str | None = None,
               progress: bool = True, log_with: str | None = None) -> list[dict]:
    """A named experiment (sweeps/named.py): a preset `sweep` testing one argument; `size` quick (a CPU smoke run),
    standard (3 training seeds, findings on a CPU) or full (a GPU)."""
    from mesaprobe.sweeps.named import get_experiment
    from mesaprobe.sweeps.run import run_sweep

    return run_sweep(get_experiment(name).spec(size), out, workers=workers, ray=ray, progress=progress,
                     log_with=log_with)


def results_frame(*runs: str | Path):
    """(probe rows, causal rows) of one or several runs as two pandas DataFrames: one row per probe or intervention,
    the run's directory in a `run` column."""
    import pandas as pd

    frames = [(Path(run), load_results(run)) for run in runs]
    if not frames:
        raise UserError("name at least one run directory")
    probes = pd.concat([pd.DataFrame(res["probes"]).assign(run=str(run)) for run, res in frames], ignore_index=True)
    causal = pd.concat([pd.DataFrame(res["causal"]).assign(run=str(run)) for run, res in frames], ignore_index=True)
    return probes, causal


def runs_frame(*runs: str | Path):
    """One row per run: task, model, behaviour, verdict, and each family's index with its CI and its decodable and
    causal parts (search: the route it was counted on), as a pandas DataFrame."""
    import pandas as pd

    from mesaprobe.probes.resummarize import under_current_rule
    from mesaprobe.sweeps.cell import index_fields

    rows = []
    for run in runs:
        res = under_current_rule(load_results(run))
        row = {"run": str(run), "task": res["task"]["name"], "model": res["model"]["source"],
               "training": res["model"].get("training"), "verdict": res["verdict"]}
        row |= {k: v for k, v in res["behavior"].items() if not k.endswith("_by_seed")}
        for family in ("search", "goal"):
            entry = res["indices"].get(family) or {}
            row |= index_fields(f"{family}_index", entry) | {
                f"{family}_decodable": (entry.get("decodability") or {}).get("value"),
                f"{family}_used": (entry.get("causal") or {}).get("value")}
            if family == "search":
                row["search_route"] = entry.get("route")
        rows.append(row)
    if not rows:
        raise UserError("name at least one run directory")
    return pd.DataFrame(rows)


def export(runs: list[str | Path], out: str | Path, overwrite: bool = False) -> list[Path]:
    """Write the runs table (runs_frame) to `out` (.parquet or .csv) and the probe and causal rows (results_frame)
    beside it as OUT-stem.probes and OUT-stem.causal with the same suffix; return the three paths. Existing files
    are replaced only with `overwrite`."""
    from mesaprobe.fsutil import check_output_file

    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise UserError(f"--out {out}: name a .parquet or a .csv file")
    tables = {out: runs_frame(*runs)}
    probes, causal = results_frame(*runs)
    tables |= {out.with_name(f"{out.stem}.probes{out.suffix}"): probes,
               out.with_name(f"{out.stem}.causal{out.suffix}"): causal}
    there = [p for p in tables if p.exists()]
    if there and not overwrite:
        raise UserError(f"{there[0]} exists; pass --overwrite to replace the exported tables")
    # every path checked before any is written: a refused one leaves the others as they were
    tables = {check_output_file(p, inputs=tuple(Path(r) for r in runs), replace=True): f for p, f in tables.items()}
    written = []
    for path, frame in tables.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        (frame.to_parquet if path.suffix == ".parquet" else frame.to_csv)(partial, index=False)
        partial.replace(path)  # whole or not at all
        written.append(path)
    return written


def tasks(spec: str | None = None) -> dict:
    """The task classes by name: built in and from `mesaprobe.tasks` entry points, or the one `spec` names (a
    name or path/to/file.py:ClassName)."""
    from mesaprobe.tasks import all_tasks, task_class

    return {(cls := task_class(spec)).name: cls} if spec else all_tasks()


def report(runs: list[str | Path], out: str | Path) -> Path:
    """An HTML page of one run, or several side by side (reports/html.py); plotly.min.js is written beside it."""
    from mesaprobe.reports.html import write_report

    return write_report(runs, out)


def card(model: str | Path, results: list[str | Path] = (), push: str | None = None, replace_readme: bool = False,
         push_timeout: float = 120.0, license: str | None = None) -> Path:
    """MODEL/README.md, a Hugging Face model card from its training.json and the named runs; with `push`, upload
    the model and card to that Hub repo first (reports/card.py)."""
    from mesaprobe.reports.card import card_command

    return card_command(Path(model), [Path(r) for r in results], push, replace_readme, push_timeout, license)


def demo(out: str | Path = "demo-out", quick: bool = False) -> dict[str, dict]:
    """The whole story on the default tiny models (demo.py); returns each step's results."""
    from mesaprobe.demo import run_demo

    return run_demo(out, train, probe, quick=quick)


def clean(directory: str | Path, dry_run: bool = False) -> list[Path]:
    """Remove what killed runs left in `directory` (their hidden partial directories, recognised by exact name, the
    file inside and a dead pid; their stale locks); with `dry_run`, only list them."""
    from mesaprobe.fsutil import clean as clean_leftovers

    return clean_leftovers(directory, dry_run)


def _option_keywords(fn, options_class) -> None:
    """Give `fn(..., options=None, **overrides)` the options dataclass's fields as typed keyword-only parameters
    in its signature, so that help(), IDEs and tab-completion show them; the dataclass stays their one source (its
    field comments explain each) and unknown keywords are still refused by name."""
    import dataclasses
    import inspect
    import typing

    hints = typing.get_type_hints(options_class)
    head = [p for p in inspect.signature(fn).parameters.values() if p.kind is not p.VAR_KEYWORD]
    keywords = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
                for f in dataclasses.fields(options_class) if f.init]
    fn.__signature__ = inspect.Signature(head + keywords)


def _declare_option_keywords() -> None:
    from mesaprobe.models.training.options import TrainOptions
    from mesaprobe.probes.options import ProbeOptions

    _option_keywords(train, TrainOptions)
    _option_keywords(probe, ProbeOptions)


_declare_option_keywords()
