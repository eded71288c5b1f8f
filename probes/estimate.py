"""How long a probe will take, said while it runs: after the first seed's extraction, and after its linear and
causal probes, the time the whole run is on course for, with the options that would shorten it. Said only when the
rest would take long enough to matter (LONG_S)."""
from __future__ import annotations

import sys

LONG_S = 60.0  # say nothing when the rest of the run would take less than this


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def after_extraction(seconds: float, seeds: int, enabled: bool) -> None:
    """The first seed's data, behaviour and activations took `seconds`; the other seeds' will take as long."""
    rest = seconds * (seeds - 1)
    if enabled and rest >= LONG_S:
        print(f"estimate: extraction {_minutes(seconds)} for the first of {seeds} seeds, about {_minutes(rest)} for "
              "the rest (quicker: --seeds 1, --n smaller, --max-layer)", file=sys.stderr, flush=True)


def after_first_seed(phases: dict[str, float], seeds: int, extraction_s: float, causal_on: bool,
                     enabled: bool) -> None:
    """The first seed's linear and causal probes took `phases`; each other seed will take as long."""
    per_seed = sum(phases.values())
    rest = per_seed * (seeds - 1)
    if not enabled or rest < LONG_S:
        return
    parts = ", ".join(f"{name} {_minutes(s)}" for name, s in phases.items())
    quicker = ["--seeds 1"] + (["--no-causal", "--causal-layers (fewer blocks)"] if causal_on else []) + ["--n smaller"]
    print(f"estimate: the first seed's probes took {parts}; the other {seeds - 1} seed(s) about {_minutes(rest)} "
          f"more, about {_minutes(rest + per_seed + extraction_s)} in all (quicker: {', '.join(quicker)})",
          file=sys.stderr, flush=True)
