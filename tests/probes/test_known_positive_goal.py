"""The goal family says yes where it must. tests/fixtures/goal-sum-sl-0 is the goal-sum model of seed 0, trained
here by `mesaprobe train goal-sum --seed 0` (ties=2, 5 blocks; 100% held-out success, 515 s, so it is kept rather
than retrained in the suite). Its goal cell is given only as sums mod N, so neither the tokens nor a random-init twin
read it linearly, and a policy that reaches it must compute it: the instrument must find the goal beyond every
control, steer it, and say `goal-across-time` (its random-init twin says `neither`: test_known_answers_goal.py)."""
import pytest
from pathlib import Path

from mesaprobe.api import probe

FIXTURE = Path(__file__).parents[1] / "fixtures" / "goal-sum-sl-0"


@pytest.mark.trains
def test_known_positive_goal_sum_is_found_steered_and_called_goal_across_time(tmp_path):
    results = probe(str(FIXTURE), "goal-sum", tmp_path / "r", n=1000, seeds=1, folds=3, causal_layers=(2,),
                    progress=False)
    assert results["behavior"]["success_rate"] >= 0.95
    assert results["verdict"] == "goal-across-time", results["indices"]
    last = max(p["layer"] for p in results["probes"])
    goal = next(p for p in results["probes"] if p["target"] == "goal" and p["layer"] == last)
    # measured 0.65 against 0.20 (random-init twin) and 0.19 (observation-only), n=1500, 5 folds
    assert goal["score"] - max(goal["random_init"], goal["obs_baseline"]) >= 0.3, goal
    steer = next(c for c in results["causal"] if c["method"] == "steer")
    assert steer["mode"] == "context"  # goal-sum's own steering mode
    # measured 0.905-0.91 against 0.11-0.115 for a norm-matched random direction (200 held-out layouts)
    assert steer["reach_by_k"][-1] >= 0.85 and steer["reach_by_k_random"][-1] <= 0.2, steer
