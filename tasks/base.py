"""The task protocol shared by every task: parameters, targets, instances, datasets, counterfactual pairs.

A task draws seeded *instances*. Each instance renders two ways: a compact synthetic token sequence (for the tiny
models trained here; whitespace-separated words, one word = one token) and a natural-language prompt (for pretrained
LMs). Per named position of the synthetic sequence it carries the labels that probes need.
"""
from __future__ import annotations

import json
import numbers
import random
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from mesaprobe.errors import UserError, register
from mesaprobe.schema import label_column, position_column

BOS, PAD, UNK = "<bos>", "<pad>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, UNK]
ANSWER_POSITION = "answer"


@dataclass(frozen=True)
class Param:
    default: int
    low: int
    high: int
    help: str
    prime: bool = False


@dataclass(frozen=True)
class TargetSpec:
    """A probe target. `token_bound`: the label is a function of the single input token at its position, so the
    Hewitt & Liang control task assigns random labels per token type; otherwise per example."""

    name: str
    kind: Literal["class", "number"]
    positions: tuple[str, ...]
    token_bound: bool = False
    description: str = ""
    index: str | None = None  # which index it feeds: "S1" running best (search), "G1"/"G2" (goal)
    horizon: int | None = None  # G2 targets: the state this many steps later
    # positions where the label is a function of that position's token alone (the running best at the first item is
    # the item itself): no evidence of a search there, so the search index leaves them out
    one_token: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainRecipe:
    """How the tiny model a task is trained on learns it: one declared object per task (`Task.recipe`), as SAELens
    pairs a config dataclass with its class. A task changes its parent's with `recipe = Parent.recipe.but(...)`."""

    # the tiny GPT-2 (n_layer, n_embd, n_head, n_positions)
    model_size: dict = field(default_factory=lambda: {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 64})
    steps: int = 2000  # supervised optimizer steps (goal tasks: behaviour cloning's; PPO's follow from episode_budget)
    lr: float = 3e-3  # supervised training's peak learning rate
    hold: float = 0.0  # the share of supervised training held at the peak rate before cosine decay
    methods: tuple[str, ...] = ("sl",)  # how a tiny model may learn it (goal tasks: "rl" too)
    episode_budget: int = 8192  # goal tasks: environment episodes per method for the matched SL/RL pair
    bc_batch_size: int = 64  # goal tasks: behaviour cloning's batch (episodes) and peak learning rate
    bc_lr: float = 3e-3
    ppo_batch: dict = field(default_factory=dict)  # goal tasks: PPOConfig overrides (episodes per iteration, per step)

    def but(self, **changes) -> "TrainRecipe":
        """This recipe with some fields changed."""
        return replace(self, **changes)


# the ClassVars a TrainRecipe replaced, and the recipe field each became (a task that still declares one is refused)
FORMER_POLICY = {"model_size": "model_size", "train_steps": "steps", "train_lr": "lr", "train_hold": "hold",
                 "tiny_methods": "methods", "episode_budget": "episode_budget", "bc_batch_size": "bc_batch_size",
                 "bc_lr": "bc_lr", "ppo_batch": "ppo_batch"}


@dataclass(frozen=True)
class Candidates:
    """What a search evaluates in one instance (`SearchTask.candidates`): each candidate's named position, its score
    under the instance's rule (higher is better: the answer is the best-scored candidate), and the answer token it
    gives when it wins."""

    positions: tuple[str, ...]
    scores: tuple[float, ...]
    answers: tuple[str, ...]

    @property
    def best(self) -> int:
        return max(range(len(self.scores)), key=self.scores.__getitem__)


@dataclass
class Instance:
    tokens: list[str]  # the synthetic prompt, starting with BOS; the model emits `answer` right after it
    answer: str
    positions: dict[str, int]  # position name -> index in tokens
    labels: dict[str, dict[str, float]]  # target -> position name -> label (class code or number)
    meta: dict[str, Any] = field(default_factory=dict)  # what the instance was built from


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


REGISTRY: dict[str, type["Task"]] = {}


class Task:
    """Base of all tasks: validated integer parameters, targets, the synthetic vocabulary, and the task's policy
    (the tiny model it is trained on, its training steps, where the answer is read). A subclass with a `name`
    registers itself."""

    name: ClassVar[str]
    family: ClassVar[Literal["search", "goal"]]
    summary: ClassVar[str]
    PARAMS: ClassVar[dict[str, Param]] = {}
    recipe: ClassVar[TrainRecipe] = TrainRecipe()  # how its tiny model is sized and trained
    answer_position: ClassVar[str] = ANSWER_POSITION  # the position name where the model emits its answer
    has_counterfactuals: ClassVar[bool] = False  # minimally changed inputs with another answer (patching)
    # a number target whose rows carry their rule (the `rule@rule` label) and whose value under every rule r is
    # labelled `<target>_under<r>` too: probes/rule_transfer.py asks whether one readout serves every rule
    per_rule_target: ClassVar[str | None] = None
    # the held-out behaviour a trained model must reach before its probes are read as findings (metric, bar): a model
    # below it is marked in comparisons and sweeps, not silently averaged
    behavior_bar: ClassVar[tuple[str, float]] = ("accuracy", 0.95)
    # what the probes read of a task beside its targets (each read here, never through getattr):
    depth_target: ClassVar[str | None] = None  # S3: a target whose best layer per example gives the depth signature
    goal_in_prompt: ClassVar[bool] = False  # the prompt writes the goal: goal decodability (G1) is then blind
    steer_mode: ClassVar[str] = "persistent"  # `probe --steer` by default (probes/causal/steering.py)
    # a pretrained LM's causal probes cost about this many forwards per prompt and causal block (probes/estimate.py)
    text_causal_forwards_per_block: ClassVar[float] = 12.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        former = sorted(set(FORMER_POLICY) & set(cls.__dict__))
        if former:
            raise UserError(f"task {cls.__name__}: {former[0]} is now a field of its TrainRecipe; declare "
                            f"`recipe = TrainRecipe({FORMER_POLICY[former[0]]}=...)` (tasks/base.py)")
        if "name" in cls.__dict__ and cls.__module__.startswith("mesaprobe.tasks."):
            register(REGISTRY, cls, "task")

    def __init__(self, **params: int):
        unknown = set(params) - set(self.PARAMS)
        if unknown:
            raise UserError(f"task {self.name!r} has no parameter {sorted(unknown)[0]!r}; it takes {sorted(self.PARAMS)}")
        for key, value in params.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise UserError(f"{self.name}: {key}={value!r} must be an integer")
        self.params = {k: p.default for k, p in self.PARAMS.items()} | {k: int(v) for k, v in params.items()}
        for key, spec in self.PARAMS.items():
            value = self.params[key]
            if not spec.low <= value <= spec.high:
                raise UserError(f"{self.name}: {key}={value} is out of range [{spec.low}, {spec.high}] ({spec.help})")
            if spec.prime and not is_prime(value):
                raise UserError(f"{self.name}: {key}={value} must be prime ({spec.help})")
        self.validate()

    def validate(self) -> None:
        """Cross-parameter checks; raise UserError."""

    def held_out(self) -> dict[str, int] | None:
        """Parameters of instances that training with these parameters never shows and a trained model can still
        read (a rule it was not trained on), or None."""
        return None

    def vocabulary(self) -> list[str]:
        """Every token of the synthetic rendering, special tokens excluded."""
        raise NotImplementedError

    def targets(self) -> list[TargetSpec]:
        raise NotImplementedError

    def answer_classes(self) -> list[str]:
        """The possible answer tokens; the `answer` target's class code is the index into this list."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        out = {"name": self.name, "family": self.family, "params": dict(self.params)}
        spec = getattr(self, "spec", self.name)
        return out | ({"spec": spec} if spec != self.name else {})

    def sft_pairs(self, n: int, seed: int) -> list[dict]:
        """Natural-language prompt/completion pairs of the oracle's answers (supervised fine-tuning data)."""
        raise NotImplementedError


class SearchTask(Task):
    """A search-in-map task: one prompt, one answer token, labels per named position, counterfactual pairs."""

    family = "search"
    has_counterfactuals = True
    # A pretrained LM's causal probes on this task in text cost about this many forward passes per prompt and causal
    # block (probes/estimate.py; measured on SmolLM2-135M: kv-recall ~2, its edits sit at the last token; argmax
    # ~12, at the items mid-query). Tasks not measured take argmax's, so their estimate errs long.
    text_causal_forwards_per_block = 12.0

    def draw(self, rng: random.Random) -> dict[str, Any]:
        """Draw the raw content (meta) of one instance."""
        raise NotImplementedError

    def build(self, meta: dict[str, Any]) -> Instance:
        """Render meta to the synthetic tokens with positions and labels."""
        raise NotImplementedError

    def render_text(self, meta: dict[str, Any]) -> tuple[str, str]:
        """Natural-language prompt and answer (answer text without leading space)."""
        raise NotImplementedError

    def text_candidates(self, meta: dict[str, Any]) -> list[str]:
        """The answers a ranking compares in the natural-language rendering (default: every answer class)."""
        return self.answer_classes()

    def text_positions(self, meta: dict[str, Any], prompt: str) -> dict[str, int]:
        """Named positions of the natural-language prompt as character offsets (the last character of each span);
        the answer position is the prompt's last character."""
        return {ANSWER_POSITION: len(prompt) - 1}

    def intervened_answer(self, meta: dict[str, Any], target: str, position: str, value: float) -> str | None:
        """The task's high-level causal model (Geiger et al. 2021): the answer of instance `meta` once `target` at
        `position` takes `value` (a source's), everything else as it is; interchange interventions are scored
        against it. None: the task declares no causal model for this target (interchange then falls back to the
        counterfactual's own answer, and says so in its row)."""
        return None

    def candidates(self, meta: dict[str, Any]) -> Candidates | None:
        """The candidates the search compares in instance `meta`, with their scores (probes/attention_ranking.py
        asks whether attention ranks them; probes/causal/score_swap.py swaps two of their scores). None: the task's
        answer is no best-scored candidate at a position (default)."""
        return None

    def position_free(self) -> "SearchTask":
        """This task without anything that ties a candidate's place to its score (argmax: no shortcut), where the
        attention evidence is read: there position alone cannot rank the candidates. Default: the task itself."""
        return self

    def perturb(self, meta: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """A minimally changed meta (one slot changed); `counterfactual` retries until the answer differs."""
        raise NotImplementedError

    def supervision(self, instance: Instance, rng: random.Random) -> tuple[list[str], dict[int, str]]:
        """What supervised training sees of an instance: tokens, and the answer due right after each supervised
        position. Default: the prompt and its one answer. In-context tasks supervise every answer the context
        already determines (more signal per sequence, the way in-context learners are trained); evaluation and
        probes always use the plain prompt. Every instance of a task must give tokens of one length."""
        return instance.tokens, {instance.positions[ANSWER_POSITION]: instance.answer}

    def sample(self, rng: random.Random) -> Instance:
        return self.build(self.draw(rng))

    def counterfactual(self, instance: Instance, rng: random.Random) -> Instance:
        for _ in range(1000):
            other = self.build(self.perturb(instance.meta, rng))
            if other.answer != instance.answer and len(other.tokens) == len(instance.tokens):
                return other
        raise RuntimeError(f"{self.name}: no counterfactual found for {instance.meta}")

    def instances(self, n: int, seed: int | str) -> list[Instance]:
        rng = random.Random(f"{self.name}:{seed}")
        return [self.sample(rng) for _ in range(n)]

    def sft_pairs(self, n: int, seed: int) -> list[dict]:
        return [{"prompt": p, "completion": " " + a}
                for p, a in (self.render_text(i.meta) for i in self.instances(n, seed=f"finetune:{seed}"))]

    def dataset(self, n: int, seed: int, counterfactuals: bool = False):
        """A `datasets.Dataset`: tokens, answer, meta (JSON), `pos.<name>` and `label.<target>@<position>` columns;
        with `counterfactuals`, also `cf_tokens`/`cf_answer`/`cf_meta` of a minimally changed instance whose answer
        differs."""
        import datasets

        rng = random.Random(f"{self.name}:cf:{seed}")
        rows = []
        for inst in self.instances(n, seed):
            row: dict[str, Any] = {"tokens": inst.tokens, "answer": inst.answer, "meta": json.dumps(inst.meta)}
            row |= {position_column(k): v for k, v in inst.positions.items()}
            for target, by_pos in inst.labels.items():
                row |= {label_column(target, pos): float(v) for pos, v in by_pos.items()}
            if counterfactuals:
                cf = self.counterfactual(inst, rng)
                row |= {"cf_tokens": cf.tokens, "cf_answer": cf.answer, "cf_meta": json.dumps(cf.meta)}
            rows.append(row)
        return datasets.Dataset.from_list(rows)
