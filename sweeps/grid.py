"""A sweep's grid: the task, the knobs it varies and the values each takes, from `--vary KEY=V1,V2` or a YAML file.
Each cell is one resolved configuration (task parameters, method, model size, pool, training seed, probe options);
its key, a hash of that configuration, names its directory, so a finished cell is found again and skipped."""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mesaprobe.errors import UserError

# knobs that are not task parameters: the training method, the tiny model's size, the training pool, its steps
MODEL_KNOBS = {"method": "training method (sl, rl)", "layers": "blocks of the tiny model",
               "width": "d_model of the tiny model (a multiple of its 4 heads)",
               "pool": "distinct training instances or layouts (0: fresh ones throughout)",
               "steps": "training steps (0: the task's default)"}
MAX_CELLS = 10_000  # a grid larger than this is refused before it is built (days of CPU per thousand cells)
VARY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$")


def is_count(value) -> bool:
    """A whole number a sweep can use (not a bool, not a float, not a string)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Cell:
    """One point of the grid and one training seed: everything that decides its numbers."""
    task: str
    params: dict
    method: str
    seed: int
    layers: int = 0  # 0: the task's default
    width: int = 0
    pool: int = 0
    steps: int = 0
    n: int = 600
    data_seeds: int = 2
    causal: bool = True
    until_bar: bool = False  # `steps` is then the most it trains (models/training/bar_stop.py)

    @property
    def key(self) -> str:
        fields = asdict(self)
        if not self.until_bar:  # cells from before the field existed keep their keys
            del fields["until_bar"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def knob(self, name: str):
        return self.params[name] if name in self.params else getattr(self, name)


@dataclass
class SweepSpec:
    """`vary`: knob -> values (task parameters or MODEL_KNOBS); `fixed`: task parameters held at one value."""
    task: str
    vary: dict[str, list] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)
    methods: tuple[str, ...] = ("sl",)
    seeds: int = 1
    n: int = 600
    data_seeds: int = 2
    causal: bool = True
    steps: int = 0
    until_bar: bool = False  # each cell trains until its behaviour bar, `steps` (or the task's default) at most

    def cells(self) -> list[Cell]:
        """Every combination of the varied values, for each method and training seed, in a fixed order."""
        from mesaprobe.tasks import get_task

        if not isinstance(self.task, str):
            raise UserError(f"a sweep's task is a name, not {self.task!r}")
        task_keys = set(get_task(self.task).PARAMS)
        self.check(task_keys)
        names = list(self.vary)
        out = []
        # a value listed twice runs once (two runs of one cell would race for its directory)
        for values in itertools.product(*(list(dict.fromkeys(self.vary[k])) for k in names)):
            chosen = dict(zip(names, values))
            params = self.fixed | {k: int(v) for k, v in chosen.items() if k in task_keys}
            get_task(self.task, **params)  # refuse an out-of-range combination before any cell runs
            model = {k: v for k, v in chosen.items() if k in MODEL_KNOBS}
            for method in ([model.pop("method")] if "method" in model else self.methods):
                for seed in range(self.seeds):
                    out.append(Cell(self.task, params, str(method), seed, n=self.n, data_seeds=self.data_seeds,
                                    causal=self.causal, until_bar=self.until_bar,
                                    **({"steps": self.steps} | model)))
        return out

    def check(self, task_keys: set[str]) -> None:
        """Every field of the spec, whole, before a cell is built: types, ranges and the grid's size."""
        if not isinstance(self.task, str):
            raise UserError(f"a sweep's task is a name, not {self.task!r}")
        for name in ("seeds", "n", "data_seeds", "steps"):
            value = getattr(self, name)
            if not is_count(value):
                raise UserError(f"a sweep's {name} must be a whole number, not {value!r}")
        for name in ("causal", "until_bar"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"a sweep's {name} must be true or false, not {getattr(self, name)!r}")
        if not isinstance(self.fixed, dict) or not all(is_count(v) for v in self.fixed.values()):
            raise UserError(f"a sweep's fixed must map task parameters to whole numbers, not {self.fixed!r}")
        if not isinstance(self.methods, (tuple, list)) or not all(isinstance(m, str) for m in self.methods):
            raise UserError(f"a sweep's methods must be a list of sl and rl, not {self.methods!r}")
        size = self.seeds * max(1, len(self.methods)) * math.prod(len(set(map(str, v))) for v in self.vary.values())
        if size > MAX_CELLS:
            raise UserError(f"this grid has {size} cells (training seeds x methods x knob values); a sweep runs at "
                            f"most {MAX_CELLS}: split it")
        for key, values in self.vary.items():
            if key not in task_keys and key not in MODEL_KNOBS:
                raise UserError(f"cannot vary {key!r}: {self.task} takes {sorted(task_keys) or 'no parameters'}, "
                                f"and the model knobs are {', '.join(MODEL_KNOBS)}")
            if not values:
                raise UserError(f"--vary {key}: give at least one value")
            if key == "method":
                bad = [v for v in values if v not in ("sl", "rl")]
            else:
                bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v < 0]
            if bad:
                raise UserError(f"--vary {key}: {bad[0]!r} is not {'sl or rl' if key == 'method' else 'an integer >= 0'}")
            repeated = sorted({str(v) for v in values if values.count(v) > 1})
            if repeated:
                print(f"note: --vary {key} lists {', '.join(repeated)} more than once; each value runs once",
                      file=sys.stderr)
        if not self.methods or set(self.methods) - {"sl", "rl"}:
            raise UserError(f"--methods {','.join(self.methods)!r}: use sl, rl or sl,rl")
        if self.seeds < 1 or self.n < 20 or self.data_seeds < 1 or self.steps < 0:
            raise UserError("a sweep needs --training-seeds >= 1, --n >= 20, --data-seeds >= 1 and steps >= 0 (0: the task's "
                            "default)")

    @property
    def knobs(self) -> list[str]:
        return list(self.vary)


def parse_vary(items: list[str]) -> dict[str, list]:
    """`["K=2,4,8", "method=sl,rl"]` -> {"K": [2, 4, 8], "method": ["sl", "rl"]}."""
    out: dict[str, list] = {}
    for item in items:
        match = VARY.match(item)
        if not match:
            raise UserError(f"bad --vary {item!r}: expected KEY=V1,V2,..., e.g. K=2,4,8")
        key, values = match[1], [v.strip() for v in match[2].split(",") if v.strip()]
        try:
            out[key] = values if key == "method" else [int(v) for v in values]
        except ValueError:
            raise UserError(f"bad --vary {item!r}: {key} takes integers, e.g. {key}=2,4,8") from None
    return out


def load_spec_file(path: str | Path) -> dict:
    """A YAML sweep file: task, vary (knob: [values]), and optionally fixed, methods, seeds, n, data_seeds."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise UserError(f"cannot read sweep file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"sweep file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    allowed = {"task", "vary", "fixed", "methods", "seeds", "n", "data_seeds", "causal", "steps", "until_bar"}
    if not isinstance(data, dict) or set(data) - allowed:
        extra = sorted(set(data) - allowed) if isinstance(data, dict) else ["(not a mapping)"]
        raise UserError(f"sweep file {path}: unknown key {extra[0]!r}; it takes {', '.join(sorted(allowed))}")
    if not isinstance(data.get("vary", {}), dict):
        raise UserError(f"sweep file {path}: vary must map each knob to a list of values")
    if "methods" in data and not isinstance(data["methods"], list):
        raise UserError(f"sweep file {path}: methods must be a list, e.g. [sl, rl], not {data['methods']!r}")
    data["vary"] = {k: list(v) if isinstance(v, list) else [v] for k, v in data.get("vary", {}).items()}
    if "methods" in data:
        data["methods"] = tuple(data["methods"])
    return data
