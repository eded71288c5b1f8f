"""Named experiments: presets of `sweep`, each the test of one argument about mesa-optimization. `quick` is sized for
a 2-core CPU (at most 15 minutes), `full` for a GPU machine. Add one by adding an entry to EXPERIMENTS."""
from __future__ import annotations

from dataclasses import dataclass, field

from mesaprobe.errors import UserError
from mesaprobe.sweeps.grid import SweepSpec


@dataclass(frozen=True)
class Experiment:
    name: str
    claim: str  # the argument it tests, and what would count for or against it
    quick: dict = field(default_factory=dict)  # SweepSpec fields
    full: dict = field(default_factory=dict)

    def spec(self, quick: bool) -> SweepSpec:
        return SweepSpec(**(self.quick if quick else self.full))


EXPERIMENTS = {e.name: e for e in [
    Experiment(
        "candidates",
        "Search costs compute: does search-like structure (the running best decodable beyond every control, the "
        "search index) appear as the number of candidates K grows, where no cheap heuristic covers the inputs?",
        quick=dict(task="argmax", vary={"K": [3, 6, 10]}, seeds=2, n=400, data_seeds=2, steps=800),
        full=dict(task="argmax", vary={"K": [2, 4, 6, 8, 12, 16]}, seeds=3, n=1000, data_seeds=3)),
    Experiment(
        "compute",
        "Search costs compute: under a depth budget (blocks of the tiny model) does gradient descent find the "
        "search, or a heuristic that the shallow models' lower accuracy and search index would show?",
        quick=dict(task="argmax", fixed={"K": 8}, vary={"layers": [1, 2, 3]}, seeds=2, n=400, data_seeds=2,
                   steps=800),
        full=dict(task="argmax", fixed={"K": 8}, vary={"layers": [1, 2, 3, 4, 6]}, seeds=3, n=1000, data_seeds=3)),
    Experiment(
        "shortcut",
        "Search costs compute, so it should give way to a shortcut: as the share of instances whose largest number "
        "sits last rises, does the search index fall while accuracy holds?",
        quick=dict(task="argmax", fixed={"K": 6}, vary={"shortcut": [0, 50, 90]}, seeds=2, n=400, data_seeds=2,
                   steps=800),
        full=dict(task="argmax", fixed={"K": 8}, vary={"shortcut": [0, 25, 50, 75, 90, 100]}, seeds=3, n=1000,
                  data_seeds=3)),
    Experiment(
        "diversity",
        "Diversity pulls toward inner optimization: with few distinct training instances a model can memorise "
        "them; with many it must compute the answer. Do held-out accuracy and the search index rise with the pool?",
        quick=dict(task="argmax", fixed={"K": 6}, vary={"pool": [64, 1024, 16384]}, seeds=2, n=400, data_seeds=2,
                   steps=800),
        full=dict(task="argmax", fixed={"K": 8}, vary={"pool": [16, 64, 256, 1024, 4096, 50000]}, seeds=3, n=1000,
                  data_seeds=3)),
    Experiment(
        "rulesets",
        "Diverse rulesets favour a general optimizer: trained on one rule (smallest) or a mix (+ second largest, "
        "+ closest to a target; the rule given as a token), is the rule left out (largest) answered better as the "
        "rules multiply, does the running best under the instance's rule stay decodable and causal (the search "
        "index), and does one readout of it serve every rule (rule transfer's sharing)?",
        quick=dict(task="argmax", fixed={"K": 6, "rule": 1}, vary={"rules": [1, 2, 3]}, seeds=2, n=400,
                   data_seeds=2, steps=1200),
        full=dict(task="argmax", fixed={"K": 8, "rule": 1}, vary={"rules": [1, 2, 3, 4]}, seeds=3, n=1000,
                  data_seeds=3, steps=4000)),
    Experiment(
        "meta-learning",
        "Time penalties do not forbid learned search when the task embeds learning: in-context learners of a "
        "linear rule mod p at different depths. Does accuracy need depth, and are the hypotheses still consistent "
        "with the examples decodable (the search index), resolved deeper for later examples (S3 depth signature)?",
        quick=dict(task="icl-linear", vary={"layers": [1, 2, 3]}, seeds=2, n=300, data_seeds=2, steps=1500),
        full=dict(task="icl-linear", vary={"layers": [1, 2, 3, 4, 6]}, seeds=3, n=1000, data_seeds=3)),
    Experiment(
        "rl-vs-sl",
        "Search is not a goal, and goal pursuit may come from RL: the same architecture trained by behaviour "
        "cloning and by PPO on the same episodes: does the goal index or the verdict differ between them?",
        quick=dict(task="gridworld", vary={"method": ["sl", "rl"]}, seeds=2, n=400, data_seeds=2),
        full=dict(task="goal-sum", vary={"method": ["sl", "rl"]}, seeds=3, n=1500, data_seeds=3)),
]}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise UserError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
