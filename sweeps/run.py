"""`mesaprobe sweep`: run every cell of a grid that has no finished row yet, on local processes (default) or a Ray
cluster, and write sweep.csv, sweep.json and sweep.html. Resumable: re-running skips the finished cells."""
from __future__ import annotations

import csv
import io
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from mesaprobe.errors import UserError
from mesaprobe.fsutil import (MARKER, OutputLock, atomic_write_json, atomic_write_text, check_not_inside,
                              check_writable, read_marker)
from mesaprobe.runtime import bar_options, exit_with_parent
from mesaprobe.sweeps.cell import finished_row, run_cell
from mesaprobe.sweeps.grid import Cell, SweepSpec


def open_sweep_dir(out: str | Path) -> Path:
    """`out` as a sweep directory: new, empty, or one a sweep wrote (then it resumes)."""
    out = check_writable(out)
    check_not_inside(out)
    if out.exists() and any(out.iterdir()):
        marker = read_marker(out)
        if marker is None or marker.get("kind") != "sweep":
            what = "mesaprobe did not write it" if marker is None else f"it is a {marker.get('kind')} directory"
            raise UserError(f"{out} exists and is not a sweep directory ({what}); choose another --out")
    (out / "cells").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / MARKER, {"kind": "sweep", "entries": ["cells", "sweep.csv", "sweep.json", "sweep.html", "plotly.min.js"]})
    return out


def csv_text(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_outputs(out: Path, spec: SweepSpec, cells: list[Cell], rows: dict[str, dict], failed: dict) -> list[dict]:
    """sweep.csv (finished cells, in grid order), sweep.json (the spec, rows, failures) and the sweep report."""
    from dataclasses import asdict

    from mesaprobe.reports.sweep import write_sweep_report

    ordered = [rows[c.key] for c in cells if c.key in rows]
    atomic_write_text(out / "sweep.csv", csv_text(ordered))
    atomic_write_json(out / "sweep.json", {"schema": "mesaprobe.sweep/1", "spec": asdict(spec), "rows": ordered,
                                           "pending": len(cells) - len(ordered), "failed": failed})
    write_sweep_report(spec.knobs, ordered, out / "sweep.html", title=f"sweep: {spec.task}")
    return ordered


def local_results(todo: list[Cell], cells_dir: Path, workers: int, log_with: str | None = None):
    """(cell, row or exception) as each finishes, on `workers` processes (1: in this process)."""
    if workers == 1:
        for cell in todo:
            try:
                yield cell, run_cell(cell, str(cells_dir), log_with=log_with)
            except Exception as exc:  # a cell's failure is reported with the others; the sweep goes on
                yield cell, exc
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=exit_with_parent,
                               initargs=(os.getpid(),))
    try:
        futures = {pool.submit(run_cell, cell, str(cells_dir), threads, log_with): cell for cell in todo}
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                cell = futures.pop(future)
                yield cell, future.exception() or future.result()
    except BaseException:  # Ctrl-C, SIGTERM, or the caller stopped: cancel what waits, stop what runs, now
        stop_pool(pool)
        raise
    pool.shutdown()


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the pending cells and kill the running ones (their partial directories are removed by the next run
    or `mesaprobe clean`); `shutdown(wait=True)` would instead wait for every queued cell."""
    workers = list((pool._processes or {}).values())  # no public handle on the workers (concurrent.futures)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.kill()
    for process in workers:
        process.join(5)


def ray_results(todo: list[Cell], cells_dir: Path, address: str, log_with: str | None = None):
    """(cell, row or exception) as each finishes, one Ray task per cell (1 CPU each). `address`: a cluster's
    address, or `local` to start a Ray instance on this machine. Workers write under `cells_dir`, which must be on
    a filesystem they share."""
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'mesaprobe[ray]'") from None
    context = ray.init(address=None if address == "local" else address, ignore_reinit_error=True,
                       log_to_driver=False, include_dashboard=False)
    if address == "local":  # the instance started here ends with this process, even one killed by SIGKILL
        import subprocess

        subprocess.Popen([sys.executable, "-m", "mesaprobe.sweeps.ray_guard", str(os.getpid()),
                          context.address_info["session_dir"]], start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    task = ray.remote(num_cpus=1)(run_cell)
    pending = {task.remote(cell, str(cells_dir), 1, log_with): cell for cell in todo}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            cell = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as exc:  # a cell's failure is reported with the others; the sweep goes on
                result = getattr(exc, "cause", None) or exc
            yield cell, result
    except BaseException:  # Ctrl-C, SIGTERM, or the caller stopped: the cluster's queued and running cells go too
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def run_sweep(spec: SweepSpec, out: str | Path, workers: int = 0, ray: str | None = None,
              progress: bool = True, log_with: str | None = None) -> list[dict]:
    """Train and probe every cell of `spec` not yet finished in `out`; write the sweep files; return the rows (one
    per cell and training seed, grid order). `workers`: local processes (0: one per core, at most one per cell);
    `log_with`: each cell logs its training curves and probe results to this tracker (in its model/ and run/)."""
    from mesaprobe.models.training.tracking import check_tracker

    check_tracker(log_with)
    cells = spec.cells()
    if workers < 0:
        raise UserError(f"--workers must be >= 0, got {workers}")
    out = check_writable(out)
    check_not_inside(out)
    import mesaprobe.reports.sweep  # noqa: F401  now: a signal that lands inside torch's import crashes the process
    lock = OutputLock(out)
    lock.acquire(out)  # before anything is created: a refused sweep leaves nothing behind
    try:
        out = open_sweep_dir(out)
        rows = {c.key: row for c in cells if (row := finished_row(out / "cells", c)) is not None}
        todo = [c for c in cells if c.key not in rows]
        failed: dict[str, str] = {}
        workers = workers or max(1, min(len(todo), os.cpu_count() or 1))
        results = (ray_results(todo, out / "cells", ray, log_with) if ray
                   else local_results(todo, out / "cells", workers, log_with))
        bar = tqdm(results, total=len(todo), desc=f"sweep {spec.task} ({len(rows)} of {len(cells)} done before)",
                   **bar_options(progress and bool(todo)))
        try:
            for cell, result in bar:
                if isinstance(result, BaseException):
                    failed[cell.key] = f"{type(result).__name__}: {result}"
                else:
                    rows[cell.key] = result
                    write_outputs(out, spec, cells, rows, failed)  # readable while the sweep runs
        except (KeyboardInterrupt, SystemExit):
            results.close()  # stops the pool (local_results) before anything else
            rows |= {c.key: row for c in cells if c.key not in rows  # finished on disk, not yet reported to us
                     and (row := finished_row(out / "cells", c)) is not None}
            write_outputs(out, spec, cells, rows, failed)
            sys.stderr.write(f"sweep stopped: {len(rows)} of {len(cells)} cells finished (in {out / 'sweep.csv'}); "
                             "running cells were killed and pending ones cancelled; re-run to resume\n")
            raise
        ordered = write_outputs(out, spec, cells, rows, failed)
    finally:
        lock.release()
    if failed:
        key, error = next(iter(failed.items()))
        raise UserError(f"{len(failed)} of {len(cells)} cells failed (first, cell {key}: {error}); the others are "
                        f"in {out / 'sweep.csv'}; re-run to retry the failed ones")
    return ordered
