"""The results contract: schema "mesaprobe.results/1" (docs/design.md), the typed records a run writes, the names of
the columns of its task data, and `load_results`, which refuses a file that is not a mesaprobe results file.

Imported by every layer, so it imports none of them."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mesaprobe.errors import UserError

SCHEMA = "mesaprobe.results/1"
REQUIRED = ("schema", "model", "task", "behavior", "probes", "causal", "indices", "verdict")
# the fields of each section that `mesaprobe report` and `mesaprobe card` read
READ_BY_REPORTS = {"model": ("source",), "task": ("name", "family", "params", "n_examples", "seed"),
                   "indices": ("search", "goal")}


# --- data columns of a run's task data (one `datasets` dataset per seed) ---------------------------------------
def position_column(position: str) -> str:
    return f"pos.{position}"


def label_key(target: str, position: str) -> str:
    """How a (target, position) label is keyed in probe data: `target@position`."""
    return f"{target}@{position}"


def label_column(target: str, position: str) -> str:
    return f"label.{label_key(target, position)}"


def label_columns(column_names: list[str]) -> dict[str, str]:
    """`target@position` key -> its column."""
    return {c[len("label."):]: c for c in column_names if c.startswith("label.")}


def position_columns(column_names: list[str]) -> dict[str, str]:
    """position name -> its column."""
    return {c[len("pos."):]: c for c in column_names if c.startswith("pos.")}


# --- records ----------------------------------------------------------------------------------------------------
class Record:
    """A row of results.json: its named fields, and beside them whatever else a method records (`extra`)."""

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return out | self.extra

    def check_types(self) -> None:
        """Each named field holds what its annotation says (numbers where numbers go): a hand-edited file is refused
        in one line, not met by a traceback later."""
        expected = {"int": (int,), "float": (int, float), "str": (str,)}
        for f in fields(self):
            kinds = expected.get(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", ""))
            value = getattr(self, f.name)
            if kinds and (not isinstance(value, kinds) or isinstance(value, bool)):
                article = "an" if f.type == "int" else "a"
                raise UserError(f"a {type(self).__name__}'s {f.name} is {value!r}, not {article} {f.type}")

    @classmethod
    def from_dict(cls, data: dict):
        names = [f.name for f in fields(cls) if f.name != "extra"]
        missing = [n for n in names if n not in data]
        if missing:
            raise UserError(f"a {cls.__name__} lacks {', '.join(missing)}")
        return cls(**{n: data[n] for n in names}, extra={k: v for k, v in data.items() if k not in names})


@dataclass
class ProbeRow(Record):
    """One linear probe beside its controls (docs/design.md, results.json `probes`)."""

    target: str
    hook: str
    layer: int
    position: str
    metric: str  # accuracy | r2
    score: float
    control: float
    selectivity: float
    random_init: float
    obs_baseline: float
    chance: float
    n_train: int
    n_test: int
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. score_by_seed


@dataclass
class CausalRow(Record):
    """One causal probe beside its random control (results.json `causal`); method-specific fields in `extra`
    (leace: probe_after, chance, rank; interchange: null_space_effect, rank; patch: token_index, logit_diff;
    steer: alpha, reach_by_k, ...)."""

    method: str
    target: str
    layer: int
    position: str
    effect: float
    control_effect: float
    n: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skipped:
    """A causal method that applies to the task's family but did not run, and why (shown in the report)."""

    method: str
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


# --- reading ----------------------------------------------------------------------------------------------------
def validate_results(data: Any, where: str) -> dict:
    """`data` parsed from a results file: a dict of this schema with every required field, else a UserError."""
    if not isinstance(data, dict):
        raise UserError(f"{where} is not a mesaprobe results file (a JSON {type(data).__name__}, not an object)")
    if data.get("schema") != SCHEMA:
        raise UserError(f"{where} is not a mesaprobe results file (schema {data.get('schema')!r}, expected {SCHEMA!r})")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise UserError(f"{where} is incomplete: it lacks {', '.join(missing)}")
    for key in ("model", "task", "behavior", "indices"):
        if not isinstance(data[key], dict):
            raise UserError(f"{where}: `{key}` is not an object")
    for key, fields_read in READ_BY_REPORTS.items():  # what `report` and `card` read, so a file lacking it is refused
        missing = [f for f in fields_read if f not in data[key]]
        if missing:
            raise UserError(f"{where} is incomplete: `{key}` lacks {', '.join(missing)}")
    for family in ("search", "goal"):
        entry = data["indices"][family]
        if not isinstance(entry, dict) or "value" not in entry or "ci" not in entry:
            raise UserError(f"{where} is incomplete: `indices.{family}` lacks its value and ci")
    if not isinstance(data["verdict"], str):
        raise UserError(f"{where}: `verdict` is not a string")
    if not isinstance(data["task"].get("params"), dict):
        raise UserError(f"{where}: `task.params` is not an object")
    for key, record in (("probes", ProbeRow), ("causal", CausalRow)):
        if not isinstance(data[key], list) or not all(isinstance(r, dict) for r in data[key]):
            raise UserError(f"{where}: `{key}` is not a list of objects")
        try:
            for r in data[key]:
                record.from_dict(r).check_types()
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
    return data


def load_results(run: str | Path) -> dict:
    """RUN/results.json (or a results file itself), validated."""
    path = Path(run) / "results.json" if Path(run).is_dir() else Path(run)
    if not path.is_file():
        raise UserError(f"{run}: no results.json (run `mesaprobe probe` first)")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    return validate_results(data, str(path))


def behaviour_words(behavior: dict) -> str:
    """`accuracy 99.9%, held_out_accuracy 16.7%, mean_return 0.835` from a behaviour record: rates and accuracies as
    percents, other numbers to three decimals, no per-seed lists (those stay in results.json)."""
    named = {"held_out_accuracy": "accuracy on the rule left out of training", "n_eval": "held-out instances"}
    parts = [f"{named.get(k, k)} {v:.1%}" if isinstance(v, float) and ("rate" in k or "accuracy" in k)
             else f"{named.get(k, k)} {v:.3f}" if isinstance(v, float) else f"{named.get(k, k)} {v}"
             for k, v in behavior.items() if not k.endswith("_by_seed")]
    return ", ".join(parts)


def index_words(entry: dict | None) -> str:
    """`0.687 [0.668, 0.708]`: an index with its 95% CI; where one data seed gives no CI, the value and that it has
    none; "n/a" where nothing was measured. The console, the report and the card say an index this one way."""
    if not entry or entry.get("value") is None:
        return "n/a"
    seeds, ci = entry.get("by_seed"), entry.get("ci")
    if ci is None or (seeds is not None and len(seeds) < 2):
        return f"{entry['value']:.3f} (one data seed: no CI)"
    return f"{entry['value']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
