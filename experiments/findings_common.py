"""What the findings page's sections share: where results live and how numbers and tables are written. The
sections (findings.py, findings_lm.py, findings_probes.py, figures.py) import from here and findings.py imports
them: no module of the lab imports another in a circle."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS, PAGE = ROOT / "experiments" / "results", ROOT / "docs" / "findings.md"
SIZES = ("standard", "quick")  # a named experiment's results: the largest size committed is the one shown
MIN_MODELS = 3  # per compared condition: with 2 models a bootstrap CI is the spread of two numbers
LATENT_STANDARD = {"rl-vs-sl": "rock-field"}  # experiments whose standard size is the latent-goal pairs


def fmt(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def ci_text(mean: float, ci: list[float]) -> str:
    return f"{mean:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
