"""Causal probes: every module of this package but `base` is a method that registers itself (base.CausalMethod), so
adding a method is adding one file. `run_causal` runs the methods that apply to the task's family and that the
subject supports, and records the others as skipped, with the reason."""
from __future__ import annotations

import importlib
import pkgutil

from mesaprobe.probes.causal.base import PLOT_KINDS, REGISTRY, REQUIRED, CausalContext, CausalMethod, Plot
from mesaprobe.probes.prefix_cache import reusing_prefixes
from mesaprobe.schema import Skipped

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def methods_for(family: str) -> list[type[CausalMethod]]:
    return [m for m in REGISTRY.values() if family in m.families]


def evidence_methods(family: str) -> tuple[str, ...]:
    """The methods whose effect beyond their control counts for the verdict on this family."""
    return tuple(m.name for m in methods_for(family) if m.evidence)


def skip_reason(method: type[CausalMethod], subject, enabled: bool = True, also: tuple[str, ...] = ()) -> str | None:
    if not enabled:
        return "causal probes were switched off (--no-causal)"
    if method.opt_in and method.name not in also:
        return f"runs only when asked for (--also-methods {method.name})"
    return subject.missing(method.needs)


def runs_any(task, subject, enabled: bool = True, also: tuple[str, ...] = ()) -> bool:
    """Will any causal method run on this subject and task?"""
    return any(skip_reason(m, subject, enabled, also) is None for m in methods_for(task.family))


def run_causal(ctx: CausalContext, enabled: bool = True) -> tuple[list[dict], list[Skipped]]:
    """Rows of every applicable method the subject supports; the rest as `Skipped` with the reason."""
    rows, skipped = [], []
    with reusing_prefixes(getattr(ctx.subject, "bridge", None)):  # a pretrained LM's edits start where they edit
        for method in methods_for(ctx.task.family):
            reason = skip_reason(method, ctx.subject, enabled, ctx.options.also_methods)
            if reason:
                skipped.append(Skipped(method.name, reason))
            else:
                rows += method().run(ctx)
    return rows, skipped


__all__ = ["REGISTRY", "REQUIRED", "PLOT_KINDS", "CausalContext", "CausalMethod", "Plot", "methods_for",
           "evidence_methods", "run_causal", "runs_any"]
