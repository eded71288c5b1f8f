"""The known-answer gallery on committed runs (experiments/results/gallery/, probed with `mesaprobe probe` at its
defaults): the current verdict rule, applied to each run's saved rows, gives the verdict a trustworthy instrument
must give. The probes themselves are re-run by tests/probes/test_known_positive_*.py at smaller sizes."""
import sys
from pathlib import Path

import pytest

from mesaprobe.probes.resummarize import resummarize, saved_task
from mesaprobe.schema import load_results

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "experiments"))  # the findings page's scripts import each other from there
import findings_probes as findings  # noqa: E402

RUNS = {name: expected for name, (_, expected) in findings.GALLERY.items()
        if (findings.RESULTS / "gallery" / name / "results.json").exists()}


def current(name: str) -> dict:
    saved = load_results(findings.RESULTS / "gallery" / name)
    return resummarize(saved, saved_task(saved))


def test_the_search_known_positive_and_its_twin_are_committed():
    assert {"argmax-closest-sl", "argmax-closest-sl-random-init"} <= set(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_each_gallery_run_gets_its_known_verdict(name):
    now = current(name)
    assert findings.meets(RUNS[name], now["verdict"]), (name, now["verdict"], now["indices"])


def test_the_search_known_positive_is_earned_by_a_candidates_score_not_the_answer():
    now = current("argmax-closest-sl")
    das = [r for r in now["causal"] if r["method"] == "das" and r["target"] == "closeness" and r["layer"] == 0]
    assert das and max(r["effect"] for r in das) >= 0.85
    score_rows = [r for r in now["probes"] if r["target"] == "closeness" and r["used"] is not None]
    assert score_rows and max(r["used"] for r in score_rows) > 0.5  # its own variable, used
    assert now["readout"]["carried"] is not True  # the answer's subspace is no part of this yes


def test_a_run_saved_under_an_earlier_rule_is_read_by_this_versions_rule_with_a_note():
    from mesaprobe.probes.resummarize import under_current_rule

    saved = load_results(findings.RESULTS / "gallery" / "argmax-sl") | {"verdict": "inconclusive"}  # as once saved
    now = under_current_rule(saved)
    assert now["verdict"] == "search-in-map" and any("verdict as saved: inconclusive" in n for n in now["notes"])
    unknown = saved | {"task": saved["task"] | {"name": "no-such-task"}}
    kept = under_current_rule(unknown)
    assert kept["verdict"] == "inconclusive" and "not re-summarised" in kept["notes"][-1]
