"""What every command of the command line shares: parsing of list options and `-p KEY=VALUE`, and `run`, which turns
a UserError into one line on stderr and makes SIGTERM clean up like Ctrl-C (cli.py holds only the commands)."""
from __future__ import annotations

import re
import signal
from typing import Callable, List, Optional

import typer

from mesaprobe.errors import UserError, disk_full

PARAM_HELP = "Task parameter KEY=VALUE (repeatable), e.g. -p K=7. See `mesaprobe tasks`."
TASK_HELP = "Task name (see `mesaprobe tasks`), or your own task class as path/to/file.py:ClassName."
PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(-?[0-9]+)\s*$", re.ASCII)


def parse_params(items: Optional[List[str]]) -> dict[str, int]:
    out = {}
    for item in items or []:
        match = PARAM.match(item)
        if not match:
            raise UserError(f"bad --param {item!r}: expected KEY=INTEGER with ASCII digits, e.g. K=7")
        out[match[1]] = int(match[2])
    return out


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"bad {option} {text!r}: expected numbers separated by commas, e.g. 1,2,4") from None


def parse_ints(text: str | None, option: str) -> tuple[int, ...] | None:
    try:
        return None if text is None else tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"bad {option} {text!r}: expected integers separated by commas, e.g. 0,10,20") from None


def behaviour_line(behavior: dict) -> str:
    """The behaviour record in words (schema.behaviour_words: the same wording as the model card)."""
    from mesaprobe.schema import behaviour_words

    return behaviour_words(behavior)


def terminated(signum, frame):
    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM (torchrun sends two) must not interrupt the clean-up
    raise SystemExit(128 + signum)  # unwinds like an exception: temporary output is removed, locks released


def run(fn: Callable[[], object], interrupted: str = "interrupted: nothing was written to --out") -> object:
    """Run a command body: a UserError becomes one line on stderr and exit code 2; SIGTERM cleans up like Ctrl-C."""
    signal.signal(signal.SIGTERM, terminated)
    try:
        return fn()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo(interrupted, err=True)
        raise typer.Exit(130) from None
    except Exception as exc:
        if (full := disk_full(exc)) is None:
            raise
        typer.echo(f"error: {full}; the output was not written (any previous output is intact): free space and "
                   "run again", err=True)
        raise typer.Exit(2) from None


def print_indices(results: dict) -> None:
    """The verdict's evidence as a table on the console: per family (and search route) the index with its 95% CI,
    its decodable and used parts; the family the verdict counted on first."""
    from rich.console import Console
    from rich.table import Table

    from mesaprobe.schema import index_words

    table = Table(title=f"verdict: {results['verdict']}", title_justify="left")
    for column in ("family", "index [95% CI]", "decodable", "used", "counted"):
        table.add_column(column, justify="left" if column in ("family", "counted") else "right")
    for family, entry in results["indices"].items():
        if entry.get("value") is None:
            continue
        routes = entry.get("routes") or {family: entry}
        for route, part in routes.items():
            name = family if route == family else f"{family}: {route}"
            counted = "yes" if route in (family, entry.get("route")) else ""
            parts = [f"{(part.get(k) or {}).get('value'):.3f}" if (part.get(k) or {}).get("value") is not None
                     else "-" for k in ("decodability", "causal")]
            table.add_row(name, index_words(part), *parts, counted)
    if table.row_count:
        Console(highlight=False).print(table)
