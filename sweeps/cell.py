"""One sweep cell: train the model its configuration names, probe it, and return its row. The cell's directory
(`cells/KEY/`: model/, run/, row.json) appears whole or not at all (fsutil.outputs.output_dir), so a killed sweep leaves
no finished-looking cell behind and the re-run redoes exactly the cells without a row.json."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from mesaprobe.sweeps.grid import Cell

ROW_FILE = "row.json"


def cell_dir(cells: Path, cell: Cell) -> Path:
    return Path(cells) / cell.key


def finished_row(cells: Path, cell: Cell) -> dict | None:
    """The row of a finished cell, or None."""
    try:
        row = json.loads((cell_dir(cells, cell) / ROW_FILE).read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and row.get("key") == cell.key else None  # else: run the cell again


def index_fields(name: str, entry: dict | None) -> dict:
    entry = entry or {}
    ci = entry.get("ci") or [None, None]
    return {name: entry.get("value"), f"{name}_lo": ci[0], f"{name}_hi": ci[1]}


def row_of(cell: Cell, results: dict, training: dict, train_s: float, probe_s: float) -> dict:
    """The sweep.csv row of one cell: its knobs, held-out behaviour (and accuracy on a held-out rule where the task
    has one), indices with CIs, rule transfer where measured, verdict and wall times."""
    behavior = results["behavior"]
    primary = "accuracy" if "accuracy" in behavior else "success_rate"
    goal = results["indices"].get("goal") or {}
    search = results["indices"].get("search") or {}
    depth, breadth = search.get("depth_signature"), search.get("breadth")
    transfer = results.get("rule_transfer")
    held_out = training.get("behavior", {}).get("held_out_accuracy")
    return {"key": cell.key, **{k: v for k, v in asdict(cell).items() if k != "params"}, **cell.params,
            "behavior_metric": primary, "behavior": behavior[primary],
            "train_behavior": next(iter(training.get("behavior", {}).values()), None),
            **({"steps_trained": training["steps"]} if "steps" in training else {}),
            **index_fields("search_index", search),
            **({"search_route": search["route"]} if "route" in search else {}),
            **(index_fields("search_breadth", breadth) | {"search_candidates": breadth["candidates"]["value"]}
               if breadth else {}),
            **index_fields("goal_index", goal),
            **index_fields("goal_decodability", goal.get("decodability")),
            **index_fields("goal_causal", goal.get("causal")),
            **(index_fields("depth_rho", depth) if depth else {}),
            **({"held_out_rule_behavior": held_out} if held_out is not None else {}),
            **(transfer_fields(transfer) if transfer else {}),
            "verdict": results["verdict"], "train_s": round(train_s, 2), "probe_s": round(probe_s, 2)}


def transfer_fields(transfer: dict) -> dict:
    """probes/rule_transfer.py's numbers at its best block."""
    at = transfer["layers"].index(transfer["best_layer"])
    return {f"rule_{k}": round(transfer[k][at], 4) for k in ("within", "across", "separate")} | {
        "rule_sharing": None if transfer["sharing"] is None else round(transfer["sharing"], 4)}


def run_cell(cell: Cell, cells: str, threads: int = 0, log_with: str | None = None) -> dict:
    """Train and probe one cell into `cells/KEY/`; return its row. `threads`: torch's and the BLAS pools' threads in
    this process, and the probes' own process pool (runtime.set_threads); `log_with`: a tracker both log to (not
    part of the cell's key: it changes no number)."""
    from mesaprobe.fsutil import atomic_write_json, output_dir
    from mesaprobe.models.training.options import TrainOptions
    from mesaprobe.models.training.train import train_into
    from mesaprobe.probes.run import run_probe
    from mesaprobe.runtime import set_threads
    from mesaprobe.tasks import get_task

    if threads:
        set_threads(threads)
    task = get_task(cell.task, **cell.params)
    options = TrainOptions(cell.method, cell.seed, cell.steps or None, layers=cell.layers or None,
                           width=cell.width or None, pool=cell.pool or None, until_bar=cell.until_bar,
                           log_with=log_with, progress=False)
    options.check(task)
    with output_dir(cell_dir(Path(cells), cell), "cell", overwrite=True, within=Path(cells).parent) as tmp:
        start = time.perf_counter()
        training = train_into(task, options, tmp / "model")
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        results = run_probe(str(tmp / "model"), task, tmp / "run", n=cell.n, seeds=cell.data_seeds,
                            causal=cell.causal, log_with=log_with, progress=False)
        row = row_of(cell, results, training, train_s, time.perf_counter() - start)
        atomic_write_json(tmp / ROW_FILE, row)
    return row
