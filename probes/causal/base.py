"""The contract of a causal probe method. A subclass of `CausalMethod` with a `name` registers itself; it declares the
families it applies to, whether it counts as causal evidence for the verdict (probes/indices.py reads this), what it
needs from the subject under study (a subject that lacks it records the method as skipped, with its reason), how it
runs, and how the report draws its rows (reports/figures.py draws each `Plot.kind`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from tqdm.auto import tqdm

from mesaprobe.errors import register
from mesaprobe.probes.options import ProbeOptions
from mesaprobe.runtime import bar_options

PLOT_KINDS = ("bars", "map", "curves")
REQUIRED = ("name", "description", "families", "evidence", "needs", "plot")
REGISTRY: dict[str, type["CausalMethod"]] = {}


@dataclass(frozen=True)
class Plot:
    """How the report draws a method's rows. bars: effect and control_effect per (target, layer), plus `series`
    (field, legend) bars; map: effect over (layer, position); curves: the best row's `series` fields over k."""

    kind: str
    title: str
    series: tuple[tuple[str, str], ...] = ()


@dataclass
class CausalContext:
    """What a method runs on: the subject (its bridge and HF model), the task, one seed's probe data, the folds
    and the blocks to intervene at."""

    subject: Any
    task: Any
    data: Any  # probes.linear_suite.ProbeData
    folds: int
    layers: list[int]
    progress: bool = True
    options: ProbeOptions = field(default_factory=ProbeOptions)  # the run's options (steering mode, alphas, ...)

    def jobs(self, desc: str) -> list[tuple[str, str, str, int]]:
        """(target, position, kind, layer) over the causally probed targets and the blocks, with a progress bar."""
        todo = [(t, p, k, layer) for t, p, k in causal_targets(self.task) for layer in self.layers]
        return tqdm(todo, desc=f"{desc} seed {self.data.seed}", **bar_options(self.progress))


def causal_targets(task) -> list[tuple[str, str, str]]:
    """(target, position, kind): the answer (the readout check), the goal (G1) at its last position, and each search
    variable (S1) at its last (most informed) position and mid-list, where an interchange must combine the patched
    value with the items still to come; never where the label is one token's own (`TargetSpec.one_token`)."""
    out = []
    for t in task.targets():
        if t.name == "answer" or t.index == "G1":
            out.append((t.name, t.positions[-1], t.kind))
        elif t.index == "S1":
            mid = [p for p in t.positions[len(t.positions) // 2:-1][:1] if p not in t.one_token]
            out += [(t.name, p, t.kind) for p in dict.fromkeys([*mid, t.positions[-1]]) if p not in t.one_token]
    return out


class CausalMethod:
    name: ClassVar[str]
    description: ClassVar[str]
    families: ClassVar[tuple[str, ...]]  # task families it applies to
    evidence: ClassVar[bool]  # counts as causal evidence for the verdict (S5 / G4)
    needs: ClassVar[frozenset[str]]  # subject capabilities: answer_logits, counterfactuals, rollouts, candidates
    plot: ClassVar[Plot]
    opt_in: ClassVar[bool] = False  # runs only when named in the run's `also_methods` (a costly method)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            register(REGISTRY, cls, "causal method")

    def run(self, ctx: CausalContext) -> list[dict]:
        """The method's rows (results.json `causal`, schema.CausalRow fields) for one seed."""
        raise NotImplementedError
