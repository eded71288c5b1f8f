"""The guides are enough: a goal task on the shared grid written from docs/adding-a-task.md and a causal method
written from docs/adding-a-probe.md work end to end with no edit anywhere else in the package."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mesaprobe.api import probe
from mesaprobe.tasks import get_task

CORNER_WALK = Path(__file__).parent / "plugin_fixtures" / "corner_walk.py"


def test_a_toy_goal_task_on_the_grid_records_only_its_own_parameters_and_walks_to_corners():
    task = get_task(f"{CORNER_WALK}:CornerWalkTask", N=4)
    assert task.describe()["params"] == {"N": 4, "budget": 8}  # nothing it does not declare
    corners = {(0, 0), (0, 3), (3, 0), (3, 3)}
    layouts = task.layouts(30, 0)
    assert {tuple(layout["goal"]) for layout in layouts} <= corners and not any(layout["walls"] for layout in layouts)
    for layout in layouts[:5]:  # the grid's oracle reaches the goal in the BFS distance
        tokens = task.oracle_episode(layout)
        steps = (len(tokens) - len(task.prompt_tokens(layout, layout["start"]))) // 3
        (r, c), (gr, gc) = layout["start"], layout["goal"]
        assert steps == abs(r - gr) + abs(c - gc)


@pytest.mark.trains
def test_a_toy_goal_task_is_trained_and_probed_with_no_edit_elsewhere(tmp_path):
    from mesaprobe.api import train

    spec = f"{CORNER_WALK}:CornerWalkTask"
    summary = train(spec, tmp_path / "m", method="sl", seed=0, progress=False)
    assert summary["behavior"]["success_rate"] > 0.5  # 300 steps of behaviour cloning on a 4x4 grid
    results = probe(str(tmp_path / "m"), spec, tmp_path / "r", n=120, seeds=2, folds=2, causal=False,
                    progress=False)
    assert results["task"]["params"] == {"N": 4, "budget": 8}
    assert any(r["target"] == "goal" for r in results["probes"]) and results["verdict"] in (
        "neither", "inconclusive", "goal-across-time")


def test_a_toy_causal_method_from_the_guide_runs_reports_and_leaves_the_verdict_alone(argmax_dir, tmp_path):
    """Written from docs/adding-a-probe.md's example: mean-ablate the residual stream at the probed site (the drop in
    answer accuracy), beside mean-ablating one random direction there. It localises, so it is not evidence."""
    from mesaprobe.probes.causal import REGISTRY
    from mesaprobe.probes.causal.base import CausalContext, CausalMethod, Plot
    from mesaprobe.probes.intervene import logits_at, random_orthonormal
    from mesaprobe.reports.html import write_report

    class MeanAblate(CausalMethod):
        name = "mean-ablate-toy"
        description = "replace the residual stream at the site by its mean over rows; drop in answer accuracy"
        families = ("search",)
        evidence = False
        needs = frozenset({"answer_logits"})
        plot = Plot("bars", "Mean ablation: drop in answer accuracy")

        def run(self, ctx: CausalContext) -> list[dict]:
            bridge, data = ctx.subject.bridge, ctx.data
            ids, answer_at = torch.tensor(data.ids), torch.tensor(data.positions[data.answer_position])

            def accuracy(edits=()):
                scores = logits_at(bridge, ids, answer_at, data.class_ids, list(edits))
                return float((scores.argmax(-1).numpy() == data.answer_classes).mean())

            clean, rows = accuracy(), []
            for target, position, kind, layer in ctx.jobs(self.name):
                at = torch.tensor(data.positions[position])
                mean = torch.tensor(data.subject.load(layer, position).mean(0), dtype=torch.float32)
                u = random_orthonormal(len(mean), 1, layer)[:, 0]

                def whole(x, _):
                    return mean.expand_as(x)

                def one_direction(x, _):
                    return x - torch.outer((x - mean) @ u, u)

                rows.append({"method": self.name, "target": target, "layer": layer, "position": position,
                             "effect": clean - accuracy([(layer, at, whole)]),
                             "control_effect": clean - accuracy([(layer, at, one_direction)]), "n": len(ids)})
            return rows

    try:
        results = probe(str(argmax_dir[0]), "argmax", tmp_path / "r", n=200, seeds=2, folds=2, progress=False)
        rows = [r for r in results["causal"] if r["method"] == "mean-ablate-toy"]
        assert rows and all(-1 <= r["effect"] <= 1 for r in rows)
        # ablating the whole stream at the answer position in the last block ends the answer; one direction does not
        last = max(r["layer"] for r in rows)
        at_answer = next(r for r in rows if r["target"] == "answer" and r["layer"] == last)
        assert at_answer["effect"] > 0.5 and at_answer["control_effect"] < 0.1
        assert "mean-ablate-toy" not in json.dumps(results["readout"])  # not evidence: the verdict ignores it
        page = write_report([tmp_path / "r"], tmp_path / "report.html").read_text()
        assert "Mean ablation: drop in answer accuracy" in page
    finally:
        REGISTRY.pop("mean-ablate-toy", None)
