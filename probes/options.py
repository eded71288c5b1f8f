"""The options of `probe`, in one object: the CLI and the API build it once and `run_probe` passes it down whole;
RUN/config.json is written from it field by field (`record`)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, replace
from typing import ClassVar

from mesaprobe.errors import UserError, check_option_types, replace_checked

LINEAR_BACKENDS = ("sklearn", "batched")
STEER_MODES = ("persistent", "first", "context")  # probes/causal/steering.py: which decisions an edit reaches


@dataclass(frozen=True)
class ProbeOptions:
    """What a probe run does beside its model, task and output directory."""

    n: int | None = None  # examples per data seed (None: the model's size, Subject.default_sizes: 1000 for tiny models)
    seeds: int | None = None  # independent data seeds, indices get a bootstrap CI over them (None: the model's size)
    folds: int = 5  # cross-validation folds of every probe
    seed: int = 0  # the first data seed
    random_init: bool = False  # probe the model's random-init twin instead
    causal: bool = True  # run the causal probes (LEACE, interchange, patching, steering)
    dtype: str = "float32"  # float32, bfloat16 or float16
    max_layer: int | None = None  # probe blocks 0..max_layer only (None: every block)
    trust_remote_code: bool = False  # let a hub model's own code run
    steer: str | None = None  # goal tasks: persistent | first | context (None: the task's steer_mode)
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)  # steering strengths tried on validation layouts
    steer_episodes: int = 200  # held-out layouts steering reports on (half as many choose alpha)
    device: str = "auto"  # where the model runs and probes are fitted (auto: CUDA when present)
    linear_backend: str = "sklearn"  # sklearn (a loop over the cores) | batched (probes/batched.py, on device)
    causal_layers: tuple[int, ...] | None = None  # blocks the causal probes run at (None: the subject's default)
    device_map: str | None = None  # "auto": accelerate spreads the model over the GPUs (models/pretrained.py)
    also_methods: tuple[str, ...] = ()  # opt-in causal methods to run too (das: distributed alignment search)
    log_with: str | None = None  # log behaviour and indices to this tracker (models/training/tracking.py)
    overwrite: bool = False  # replace an --out that mesaprobe wrote as a run directory
    progress: bool = True  # progress bars
    yes: bool = False  # run even when the estimate says it will take longer than probes/estimate.py's ASK_S

    RUN_ONLY: ClassVar[tuple[str, ...]] = ("overwrite", "progress", "yes")  # how the run behaves, not what it measured

    def __post_init__(self):
        check_option_types(self)

    def check(self) -> None:
        """Refuse options no run can use, before any work."""
        from mesaprobe.models.training.tracking import check_tracker

        check_tracker(self.log_with)
        if self.linear_backend not in LINEAR_BACKENDS:
            raise UserError(f"--linear-backend {self.linear_backend!r}: use one of {', '.join(LINEAR_BACKENDS)}")
        if self.steer_episodes < 2:
            raise UserError(f"steer_episodes {self.steer_episodes}: steering needs at least 2 held-out layouts")
        if self.steer is not None and self.steer not in STEER_MODES:
            raise UserError(f"--steer {self.steer!r}: use one of {', '.join(STEER_MODES)}")
        if not self.alphas or any(not (a > 0 and math.isfinite(a)) for a in self.alphas):
            raise UserError(f"--alphas {','.join(map(str, self.alphas))}: every steering strength must be positive "
                            "and finite")
        if self.folds < 2:
            raise UserError(f"--folds {self.folds}: cross-validation needs at least 2 folds")
        if not 0 <= self.seed < 2**31:
            raise UserError(f"--seed {self.seed}: give a seed in 0..{2**31 - 1}")
        if self.seeds is not None and self.seeds < 1:
            raise UserError(f"--seeds {self.seeds}: run at least 1 seed")
        if self.n is not None and self.n < 10 * self.folds:
            raise UserError(f"--n {self.n} is too small for {self.folds}-fold probes; use at least {10 * self.folds}")

    def sized(self, sizes: dict) -> "ProbeOptions":
        """These options with `n` and `seeds` taken from `sizes` (the subject's defaults) where they were left unset."""
        out = replace(self, **{k: sizes[k] for k in ("n", "seeds") if getattr(self, k) is None})
        out.check()
        return out

    def record(self) -> dict:
        """The fields config.json keeps, by name (RUN_ONLY left out)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in self.RUN_ONLY}
        return out | {k: list(v) for k, v in out.items() if isinstance(v, tuple)}


def with_overrides(options: ProbeOptions | None, overrides: dict) -> ProbeOptions:
    """`options` (default ProbeOptions()) with keyword overrides; an unknown keyword is a UserError naming the
    options there are."""
    return replace_checked(options or ProbeOptions(), overrides)
