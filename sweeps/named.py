"""Named experiments: presets of `sweep`, each the test of one argument about mesa-optimization, at three sizes:
`quick` for a 2-core CPU (at most 15 minutes, 2 training seeds: a smoke run), `standard` (quick's grid with 3 training
and 3 data seeds, more examples, and the steps every cell needs to reach its behaviour bar: an hour or two on a CPU,
the size whose findings are stated), `full` for a GPU machine. Add one by adding an entry to EXPERIMENTS."""
from __future__ import annotations

from dataclasses import dataclass, field

from mesaprobe.errors import UserError
from mesaprobe.sweeps.grid import SweepSpec

SIZES = ("quick", "standard", "full")
STANDARD = dict(seeds=3, data_seeds=3, n=600)  # what `standard` changes in every quick preset
UNTIL_BAR_STEPS = 4000  # the most steps of a cell trained until its bar


@dataclass(frozen=True)
class Experiment:
    name: str
    claim: str  # the argument it tests, and what would count for or against it
    quick: dict = field(default_factory=dict)  # SweepSpec fields
    full: dict = field(default_factory=dict)
    standard: dict = field(default_factory=dict)  # further changes to quick's preset at the standard size
    # what the argument predicts, as (measure, +1, -1 or 0) pairs: the measure rises, falls, or holds or rises from
    # the first value of the swept knob to the last; experiments/findings.py says whether the training seeds' CI of
    # that difference agrees (under each value of the other knobs, such as the rule)
    predicts: tuple[tuple[str, int], ...] = (("search_index", 1),)
    # values of the swept knob whose models the argument predicts to miss the behaviour bar (a memorizer, a model too
    # shallow to search): a miss there is a finding, not a reason to call the prediction undecided
    may_miss: tuple = ()

    def spec(self, size: str = "full") -> SweepSpec:
        if size not in SIZES:
            raise UserError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
        fields = {"quick": self.quick, "full": self.full,
                  "standard": self.quick | STANDARD | self.standard}[size]
        return SweepSpec(**fields)


EXPERIMENTS = {e.name: e for e in [
    Experiment(
        "candidates",
        "Search costs compute: does search (the search index: the running best, candidate scores or candidate "
        "scoring in attention, decodable beyond every control and used) hold as the number of candidates K grows, "
        "where no cheap heuristic covers the inputs, and does its breadth (the candidates the used scoring orders "
        "correctly) hold or rise with K, under the largest-number and the closest-to-a-target rule?",
        quick=dict(task="argmax", vary={"K": [3, 6, 10], "rule": [0, 3]}, seeds=2, n=400, data_seeds=2, steps=800),
        full=dict(task="argmax", vary={"K": [2, 4, 6, 8, 12, 16], "rule": [0, 3]}, seeds=3, n=1000, data_seeds=3),
        standard=dict(vary={"K": [3, 5, 8, 12], "rule": [0, 3]}, steps=0),
        predicts=(("search_index", 0), ("search_breadth", 0))),
    Experiment(
        "compute",
        "Search costs compute: under a depth budget (blocks of the tiny model) does gradient descent find the "
        "search, or a heuristic that the shallow models' lower accuracy, search index and breadth would show, "
        "under the largest-number and the closest-to-a-target rule (which needs a score computed before it ranks)?",
        quick=dict(task="argmax", fixed={"K": 8}, vary={"layers": [1, 2, 3], "rule": [0, 3]}, seeds=2, n=400,
                   data_seeds=2, steps=800),
        full=dict(task="argmax", fixed={"K": 8}, vary={"layers": [1, 2, 3, 4, 6], "rule": [0, 3]}, seeds=3, n=1000,
                  data_seeds=3),
        standard=dict(steps=0),
        predicts=(("search_index", 1), ("search_breadth", 1)), may_miss=(1,)),
    Experiment(
        "shortcut",
        "Search costs compute, so it should give way to a shortcut: as the share of instances whose answer sits "
        "last rises (100: always, so copying is enough), do the search index and breadth fall while accuracy holds, "
        "under the largest-number and the closest-to-a-target rule?",
        quick=dict(task="argmax", fixed={"K": 6}, vary={"shortcut": [0, 50, 90, 100], "rule": [0, 3]}, seeds=2,
                   n=400, data_seeds=2, steps=800),
        full=dict(task="argmax", fixed={"K": 8}, vary={"shortcut": [0, 25, 50, 75, 90, 100], "rule": [0, 3]}, seeds=3,
                  n=1000, data_seeds=3),
        standard=dict(steps=UNTIL_BAR_STEPS, until_bar=True),
        predicts=(("search_index", -1), ("search_breadth", -1))),
    Experiment(
        "diversity",
        "Diversity pulls toward inner optimization: with few distinct training instances a model can memorise "
        "them; with many it must compute the answer. Do held-out accuracy, the search index and its breadth rise "
        "with the pool, under the largest-number and the closest-to-a-target rule?",
        quick=dict(task="argmax", fixed={"K": 6}, vary={"pool": [64, 1024, 16384], "rule": [0, 3]}, seeds=2, n=400,
                   data_seeds=2, steps=800),
        full=dict(task="argmax", fixed={"K": 8}, vary={"pool": [16, 64, 256, 1024, 4096, 50000], "rule": [0, 3]},
                  seeds=3, n=1000, data_seeds=3),
        standard=dict(steps=2 * UNTIL_BAR_STEPS, until_bar=True),
        predicts=(("search_index", 1), ("search_breadth", 1)), may_miss=(64,)),
    Experiment(
        "rulesets",
        "Diverse rulesets favour a general optimizer: trained on one rule (smallest) or a mix (+ second largest, "
        "+ closest to a target; the rule given as a token), is the rule left out (largest) answered better as the "
        "rules multiply, does the running best under the instance's rule stay decodable and causal (the search "
        "index), and does one readout of it serve every rule (rule transfer's sharing)?",
        quick=dict(task="argmax", fixed={"K": 6, "rule": 1}, vary={"rules": [1, 2, 3]}, seeds=2, n=400,
                   data_seeds=2, steps=1200),
        full=dict(task="argmax", fixed={"K": 8, "rule": 1}, vary={"rules": [1, 2, 3, 4]}, seeds=3, n=1000,
                  data_seeds=3, steps=4000),
        standard=dict(steps=2400),
        predicts=(("held_out_rule_behavior", 1),)),
    Experiment(
        "meta-learning",
        "Time penalties do not forbid learned search when the task embeds learning: in-context learners of a "
        "linear rule mod p at different depths. Does accuracy need depth, and are the hypotheses still consistent "
        "with the examples decodable (the search index), resolved deeper for later examples (S3 depth signature)?",
        quick=dict(task="icl-linear", vary={"layers": [1, 2, 3]}, seeds=2, n=300, data_seeds=2, steps=1500),
        full=dict(task="icl-linear", vary={"layers": [1, 2, 3, 4, 6]}, seeds=3, n=1000, data_seeds=3),
        standard=dict(steps=0, fixed={"n": 6})),  # the task's default steps; 6 examples a prompt for S3's depth
    Experiment(
        "rl-vs-sl",
        "Search is not a goal, and goal pursuit may come from RL: the same architecture trained by behaviour "
        "cloning and by PPO on the same episodes: does the goal index or the verdict differ between them?",
        quick=dict(task="gridworld", vary={"method": ["sl", "rl"]}, seeds=2, n=400, data_seeds=2),
        full=dict(task="goal-sum", vary={"method": ["sl", "rl"]}, seeds=3, n=1500, data_seeds=3),
        # a latent goal (gridworld writes it in the prompt); the same pairs experiments/latent_goals.sh trains
        standard=dict(task="rock-field", n=1200),
        predicts=(("goal_index", 1),)),
]}


def size_of(quick: bool, standard: bool, size: str | None = None) -> str:
    """The size the `experiment` command's flags ask for (`--size`, or `--quick` / `--standard`)."""
    asked = {s for s, flag in (("quick", quick), ("standard", standard)) if flag} | ({size} if size else set())
    if len(asked) > 1:
        raise UserError(f"give one size, not {' and '.join(sorted(asked))}")
    chosen = asked.pop() if asked else "full"
    if chosen not in SIZES:
        raise UserError(f"--size {chosen!r}: choose one of {', '.join(SIZES)}")
    return chosen


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise UserError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
