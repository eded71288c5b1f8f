"""How long a probe will take, said while it runs: for a pretrained LM, from its first batch, before the long work
(and a run on course for more than ASK_S asks for --yes); for every model after the first seed's extraction, and
after its linear and causal probes, the time the whole run is on course for, with the options that would shorten it.
Said only when the rest would take long enough to matter (LONG_S)."""
from __future__ import annotations

import sys

from mesaprobe.errors import UserError

LONG_S = 60.0  # say nothing when the rest of the run would take less than this
ASK_S = 30 * 60.0  # a pretrained LM's run estimated past this asks for --yes before the long work
# A pretrained LM's causal probes cost about this many first-batch forwards per row: a part per run (each distinct
# prompt's clean pass, the patching map) and a part per causal block that the task declares
# (`text_causal_forwards_per_block`: interchange's sources, LEACE's and the edited passes). Measured on SmolLM2-135M,
# 2 CPU cores (benchmarks/lm_first_probe.json).
CAUSAL_PER_RUN = 4.0


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


def before_the_work(first_batch_s: float, rows: int, n: int, seeds: int, causal_blocks: int, yes: bool,
                    enabled: bool, per_block: float) -> None:
    """A pretrained LM's first extraction batch of `rows` rows took `first_batch_s`: say what the whole run will
    take, phase by phase (causal probes: `per_block` forwards per row and block), and refuse a run past ASK_S
    unless `yes`."""
    per_row = first_batch_s / rows
    extraction = per_row * n * seeds * 2  # the model and its random-init twin
    causal = per_row * n * seeds * (CAUSAL_PER_RUN + per_block * causal_blocks) if causal_blocks else 0.0
    total = extraction + causal
    quicker = "--n smaller, --seeds 1" + (", --causal-layers (fewer blocks) or --no-causal" if causal_blocks else "")
    if enabled or total > ASK_S:
        print(f"estimate: about {_minutes(total)} from here (extraction {_minutes(extraction)}, causal probes "
              f"{_minutes(causal)} at {causal_blocks} block(s); linear probes add little); quicker: {quicker}",
              file=sys.stderr, flush=True)
    if total > ASK_S and not yes:
        raise UserError(f"this probe would take about {_minutes(total)}; pass --yes to run it, or make it quicker "
                        f"({quicker})")
