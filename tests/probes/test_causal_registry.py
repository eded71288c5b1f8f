"""Every registered causal method declares what indices, reports and subjects need; a method added in a file of its
own is run, skipped with a reason, counted for the verdict and drawn without touching another file."""
import numpy as np
import pytest

from mesaprobe.errors import UserError
from mesaprobe.probes.options import ProbeOptions
from mesaprobe.probes.causal import (PLOT_KINDS, REGISTRY, REQUIRED, CausalMethod, Plot, evidence_methods,
                                     methods_for, run_causal)
from mesaprobe.reports.figures import causal_figures

METHODS = sorted(REGISTRY)


@pytest.mark.parametrize("name", METHODS)
def test_a_method_declares_everything(name):
    method = REGISTRY[name]
    missing = [attr for attr in REQUIRED if not hasattr(method, attr)]
    assert not missing, f"{name} lacks {missing}"
    assert method.name == name and method.description
    assert method.families and set(method.families) <= {"search", "goal"}
    assert isinstance(method.evidence, bool) and method.needs <= {"answer_logits", "counterfactuals", "rollouts", "candidates"}
    assert isinstance(method.plot, Plot) and method.plot.kind in PLOT_KINDS and method.plot.title
    assert method.run is not CausalMethod.run, f"{name} does not implement run()"


def test_the_verdict_counts_the_methods_registered_as_evidence():
    assert set(evidence_methods("search")) == {"leace", "interchange", "das", "score-swap"}
    assert set(evidence_methods("goal")) == {"leace", "interchange", "steer"}
    assert "patch" not in evidence_methods("search")  # localises; not a test of a probed variable


class Subject:
    def __init__(self, capabilities):
        self.capabilities = capabilities

    def missing(self, needs):
        lacking = sorted(set(needs) - self.capabilities)
        return f"no {lacking[0]}" if lacking else None


class Task:
    family = "search"


def test_a_new_method_runs_where_supported_and_is_skipped_with_its_reason_elsewhere():
    class Planted(CausalMethod):
        name = "planted-test-method"
        description = "a test method"
        families = ("search",)
        evidence = True
        needs = frozenset({"answer_logits", "telepathy"})
        plot = Plot("bars", "planted")

        def run(self, ctx):
            return [{"method": self.name, "target": "answer", "layer": 0, "position": "answer", "effect": 0.9,
                     "control_effect": 0.1, "n": 10}]

    class Ctx:
        task = Task()
        options = ProbeOptions()

    try:
        assert Planted in methods_for("search") and "planted-test-method" in evidence_methods("search")
        ctx = Ctx()
        ctx.subject = Subject({"answer_logits", "counterfactuals"})
        planted = [m for m in methods_for("search") if m is not Planted]
        for m in planted:  # keep the real methods out of this run
            REGISTRY.pop(m.name)
        rows, skipped = run_causal(ctx)
        assert rows == [] and [(s.method, s.reason) for s in skipped] == [("planted-test-method", "no telepathy")]
        ctx.subject = Subject({"answer_logits", "telepathy"})
        rows, skipped = run_causal(ctx)
        assert rows[0]["effect"] == 0.9 and skipped == []
        assert [s.method for s in run_causal(ctx, enabled=False)[1]] == ["planted-test-method"]
        figs = causal_figures([("run", {"causal": rows})])
        assert len(figs) == 1 and figs[0].layout.title.text == "planted"
    finally:
        REGISTRY.pop("planted-test-method", None)
        for m in planted:
            REGISTRY[m.name] = m


def test_each_plot_kind_draws(argmax_run, gridworld_sl_dir):
    _, results = argmax_run
    titles = {f.layout.title.text for f in causal_figures([("a", results)])}
    assert any("LEACE" in t for t in titles) and any("IIA" in t for t in titles)
    assert any("patching" in t for t in titles)
    rows = [{"method": "steer", "target": "goal", "layer": 0, "position": "decision", "effect": 0.5,
             "control_effect": 0.1, "n": 5, "reach_by_k": [0.1, 0.5], "reach_by_k_random": [0.0, 0.1],
             "reach_by_k_unsteered": [0.0, 0.0]}]
    curves = causal_figures([("g", {"causal": rows})])
    assert len(curves) == 1 and len(curves[0].data) == 3 and np.allclose(curves[0].data[0].y, [0.1, 0.5])


def test_a_reused_method_name_is_refused():
    """A second class under a name the registry holds is a clear error, and the first keeps its name."""
    held = REGISTRY["leace"]
    with pytest.raises(UserError, match="causal method name 'leace' is taken by mesaprobe.probes.causal.leace"):
        class Impostor(CausalMethod):
            name = "leace"
    assert REGISTRY["leace"] is held
