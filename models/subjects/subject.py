"""The model under study, as the probes see it. Two kinds:
- `TokenSubject`: a model that speaks the task's synthetic tokens (a tiny model trained here, or any model whose
  vocabulary has them): one token per answer, counterfactual inputs of equal length, closed-loop rollouts;
- `TextSubject`: a pretrained LM that gets the task in natural language through its own tokenizer.

Each builds one seed's probe inputs (its data rows, behaviour, what causal probes need) and says which causal
capabilities it has (`missing(needs)` gives the reason one is absent). probes/run.py asks the subject; it never
inspects columns or types."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from mesaprobe.models.subjects.candidates import CandidateInputs, candidate_inputs, has_candidates
from mesaprobe.models.forward import answer_logits
from mesaprobe.models.loading import LoadedModel
from mesaprobe.models.tokenizer import encode_tokens, token_ids
from mesaprobe.schema import label_column, label_columns, position_column, position_columns
from mesaprobe.tasks.base import BOS, Task


def by_family(task: Task, search, goal):
    """The one place the models layer forks on a task's family: `search` or `goal`, whichever fits `task`."""
    return {"search": search, "goal": goal}[task.family]


@dataclass
class ProbeInputs:
    """One seed's rows for the probes, and the subject's behaviour on them."""

    dataset: Any  # datasets.Dataset, saved in the run directory
    sequences: list[list[int]]  # token ids per row (unpadded)
    positions: dict[str, np.ndarray]  # position name -> token index per row
    labels: dict[str, np.ndarray]  # "target@position" -> label per row
    behavior: dict | None  # None until `finish` (text: scored in the extraction pass)
    scorer: Callable | None = None  # fed by the extraction pass (text search tasks)
    groups: np.ndarray | None = None  # CV groups: rows of one episode stay in one fold
    class_ids: torch.Tensor | None = None  # answer classes: token ids [C], or per-row candidates [n, C, L] (text)
    answer_classes: np.ndarray | None = None  # per row: index of the right answer among class_ids
    cf_ids: np.ndarray | None = None  # counterfactual inputs [n, T]
    cf_classes: np.ndarray | None = None  # per row: index of the counterfactual's answer
    refused_pairs: int = 0  # text: instances skipped for want of an aligned counterfactual
    # "target@position" -> (per row: the answer class the task's causal model gives once that variable takes the
    # counterfactual's value, -1 where it gives none; whether the counterfactual's value differs from the row's)
    cf_predictions: dict[str, tuple[np.ndarray, np.ndarray]] | None = None


def has_attention_hooks(bridge) -> bool:
    """Does the bridge expose each block's pre-softmax attention scores (the hook the attention evidence reads)?"""
    return "blocks.0.attn.hook_attn_scores" in getattr(bridge, "hook_dict", {})


def inputs_from_dataset(ds, sequences: list[list[int]], task: Task, behavior, **extra) -> ProbeInputs:
    columns = position_columns(ds.column_names)
    wanted = {p for t in task.targets() for p in t.positions if p in columns}
    positions = {p: np.asarray(ds[columns[p]]) for p in sorted(wanted)}
    labels = {key: np.asarray(ds[c]) for key, c in label_columns(ds.column_names).items()}
    groups = np.asarray(ds["episode"]) if "episode" in ds.column_names else None
    return ProbeInputs(ds, sequences, positions, labels, behavior, groups=groups, **extra)


class Subject:
    """A loaded model and the task it is probed on."""

    kind: str
    capabilities: frozenset[str] = frozenset()
    patch_every_token = True  # the patching map covers every token index (else only the named positions)
    estimate_early = False  # say what the probe will take from its first batch, and ask for --yes past a limit

    def __init__(self, loaded: LoadedModel, task: Task):
        self.loaded, self.task = loaded, task

    def default_sizes(self, device: str) -> dict:
        """`probe`'s defaults for this model on `device`: rows, data seeds and the number of evenly spaced blocks the
        causal probes run at (None: every block; a tiny model probes 1000 rows x 3 data seeds in minutes)."""
        return {"n": 1000, "seeds": 3, "causal_blocks": None}

    @property
    def bridge(self):
        return self.loaded.bridge

    @property
    def hf_model(self):
        return self.loaded.hf_model

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    def probe_inputs(self, n: int, seed: int, progress: bool = False) -> ProbeInputs:
        return by_family(self.task, self.search_inputs, self.goal_inputs)(n, seed, progress)

    def finish(self, inputs: ProbeInputs, scored_in_pass: bool, progress: bool = False) -> dict:
        """The behaviour of `inputs`: as built, or scored by the extraction pass, or by passes of its own."""
        return inputs.behavior

    def missing(self, needs: frozenset[str]) -> str | None:
        """Why this subject cannot give what a causal method needs, or None when it can."""
        lacking = sorted(set(needs) - set(self.capabilities))
        return self.reason(lacking[0]) if lacking else None

    def reason(self, capability: str) -> str:
        raise NotImplementedError

    def search_inputs(self, n: int, seed: int, progress: bool) -> ProbeInputs:
        raise NotImplementedError

    def goal_inputs(self, n: int, seed: int, progress: bool) -> ProbeInputs:
        raise NotImplementedError


class TokenSubject(Subject):
    kind = "task-tokens"

    def __init__(self, loaded: LoadedModel, task: Task):
        super().__init__(loaded, task)
        caps = {"answer_logits"} | ({"counterfactuals"} if task.has_counterfactuals else set())
        caps |= {"candidates"} if has_candidates(task) and has_attention_hooks(loaded.bridge) else set()
        self.capabilities = frozenset(caps | by_family(task, set(), {"rollouts"}))
        self.class_ids = torch.tensor(token_ids(loaded.tokenizer, [task.answer_classes()])[0])
        self._candidates: dict[tuple[int, int], CandidateInputs] = {}

    def reason(self, capability: str) -> str:
        if capability == "candidates" and has_candidates(self.task):
            return "this model's bridge exposes no pre-softmax attention scores (blocks.L.attn.hook_attn_scores)"
        return {"counterfactuals": f"{self.task.name} has no counterfactual inputs (minimally changed inputs with "
                                   "another answer)",
                "candidates": f"{self.task.name} declares no scored candidates at known positions "
                              "(SearchTask.candidates)",
                "rollouts": f"{self.task.name} is not a goal task"}.get(capability, f"no {capability}")

    def candidate_inputs(self, n: int, seed: int) -> CandidateInputs:
        """One seed's position-free instances with their scored candidates (models/subjects/candidates.py), drawn
        once and shared by the ranking and the score swap."""
        if (n, seed) not in self._candidates:
            self._candidates[(n, seed)] = candidate_inputs(self.task, self.tokenizer, self.class_ids, n, seed)
        return self._candidates[(n, seed)]

    def search_inputs(self, n: int, seed: int, progress: bool) -> ProbeInputs:
        task, tok = self.task, self.tokenizer
        ds = task.dataset(n, seed=f"probe:{seed}", counterfactuals=True)
        ids = encode_tokens(tok, ds["tokens"])
        logits = answer_logits(self.hf_model, ids, torch.tensor(ds[position_column(task.answer_position)]))
        answers = encode_tokens(tok, [[a] for a in ds["answer"]])[:, 0]
        behavior = {"accuracy": float((logits.argmax(-1) == answers).float().mean())}
        index = {a: i for i, a in enumerate(task.answer_classes())}
        return inputs_from_dataset(ds, ids.tolist(), task, behavior, class_ids=self.class_ids,
                                   answer_classes=np.array([index[a] for a in ds["answer"]]),
                                   cf_ids=encode_tokens(tok, ds["cf_tokens"]).numpy(),
                                   cf_classes=np.array([index[a] for a in ds["cf_answer"]]),
                                   cf_predictions=interchange_predictions(task, ds, index))

    def goal_inputs(self, n: int, seed: int, progress: bool) -> ProbeInputs:
        from mesaprobe.models.subjects.goal_rows import rollout_dataset

        ds, behavior, _ = rollout_dataset(self.hf_model, self.tokenizer, self.task, n, seed)
        answers = np.asarray(ds[label_column("answer", self.task.answer_position)]).astype(int)
        return inputs_from_dataset(ds, token_ids(self.tokenizer, ds["tokens"]), self.task, behavior,
                                   class_ids=self.class_ids, answer_classes=answers)


def interchange_predictions(task: Task, ds, index: dict[str, int]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each search variable (S1 target) at each position, what an interchange intervention is scored against:
    the answer class the task's causal model (`intervened_answer`) gives each row once the variable takes its
    counterfactual's value (-1 where the model gives none), and whether that value differs from the row's own."""
    import json

    metas, cf_metas = [json.loads(m) for m in ds["meta"]], [json.loads(m) for m in ds["cf_meta"]]
    labels = [(task.build(m).labels, task.build(c).labels) for m, c in zip(metas, cf_metas)]
    out = {}
    for t in (t for t in task.targets() if t.index == "S1"):
        for p in t.positions:
            answers = [task.intervened_answer(m, t.name, p, cf[t.name][p]) for m, (_, cf) in zip(metas, labels)]
            if any(a is not None for a in answers):
                out[f"{t.name}@{p}"] = (np.array([-1 if a is None else index[a] for a in answers]),
                                        np.array([cf[t.name][p] != own[t.name][p] for own, cf in labels]))
    return out


class TextSubject(Subject):
    """Search tasks get counterfactual prompts aligned token by token (models/subjects/text_pairs.py) and answers scored by
    candidate ranking, so LEACE, interchange and patching run at the aligned named positions. Goal tasks score a
    decision by the logits of the move words' tokens at it (where each word is one token of this tokenizer, after a
    space as the model replies), so LEACE runs at each decision of the model's own text episodes."""

    kind = "natural-language"
    patch_every_token = False  # prompts differ in length; only the named positions are aligned across a pair
    estimate_early = True

    def default_sizes(self, device: str) -> dict:
        """A first probe of a ~100M-parameter LM within ~10 minutes on 2 CPU cores (SmolLM2-135M: 100 rows, 1 data
        seed, causal probes at 2 blocks, docs/benchmarks.md); on a GPU 500 rows x 3 seeds at 4 blocks. Each block
        costs several forwards of the LM per example; --causal-layers for more."""
        if device.startswith("cuda"):
            return {"n": 500, "seeds": 3, "causal_blocks": 4}
        return {"n": 100, "seeds": 1, "causal_blocks": 2}

    def __init__(self, loaded: LoadedModel, task: Task):
        super().__init__(loaded, task)
        # search: logits over answer candidates and counterfactual prompts where the task has them; goal: the logits
        # of the moves where each move word is one token
        self.move_ids = by_family(task, lambda: None, lambda: move_token_ids(self.tokenizer, task))()
        caps = by_family(task, {"answer_logits", "counterfactuals"} if task.has_counterfactuals else set(),
                         {"answer_logits"} if self.move_ids is not None else set())
        self.capabilities = frozenset(caps)

    def reason(self, capability: str) -> str:
        if capability == "candidates":
            return ("candidate scoring in attention runs on task-token subjects, where each candidate is one token "
                    "at a known index; in a natural-language prompt a candidate spans tokens")
        search = f"{self.task.name} has no counterfactual inputs (minimally changed inputs with another answer)"
        goal = ("interchange, patching and steering on natural-language goal tasks are not implemented yet (a move "
                "is a word generated mid-episode: no aligned counterfactual episodes, no steered text rollouts)")
        if capability == "answer_logits" and self.move_ids is None:
            goal = (f"{self.task.name}'s move words ({', '.join(self.task.ACTION_WORDS)}) are not one token each in "
                    "this tokenizer: no logits of a move at a decision")
        return by_family(self.task, search, goal)

    def search_inputs(self, n: int, seed: int, progress: bool) -> ProbeInputs:
        import datasets

        from mesaprobe.models.rollouts.tiny import pad_batch
        from mesaprobe.models.subjects.text_eval import TextScorer, text_examples
        from mesaprobe.models.subjects.text_pairs import text_pairs

        pairs = text_pairs(self.task, self.tokenizer, n, seed) if "counterfactuals" in self.capabilities else None
        examples = pairs.base if pairs else text_examples(self.task, self.tokenizer, n, seed)
        rows = []
        for ex in examples:
            labels = self.task.build(ex.meta).labels
            row = {"ids": ex.ids, "answer": ex.answer} | {position_column(k): v for k, v in ex.positions.items()}
            row |= {label_column(t, p): float(v) for t, by_pos in labels.items() for p, v in by_pos.items()
                    if p in ex.positions}
            rows.append(row)
        ds = datasets.Dataset.from_list(rows)
        scorer = TextScorer(self.hf_model, self.tokenizer, examples)
        if pairs is None:
            return inputs_from_dataset(ds, ds["ids"], self.task, None, scorer=scorer)
        answers, cf_answers = pairs.answer_indices()
        ds = ds.add_column("cf_ids", [ex.ids for ex in pairs.cf]).add_column(
            "cf_answer", [ex.answer for ex in pairs.cf])
        cf_ids = pad_batch([ex.ids for ex in pairs.cf], self.tokenizer.pad_token_id or 0)[0].numpy()
        return inputs_from_dataset(ds, ds["ids"], self.task, None, scorer=scorer,
                                   class_ids=pairs.candidate_ids(self.tokenizer), answer_classes=np.array(answers),
                                   cf_ids=cf_ids, cf_classes=np.array(cf_answers), refused_pairs=pairs.refused)

    def goal_inputs(self, n: int, seed: int, progress: bool) -> ProbeInputs:
        from mesaprobe.models.subjects.goal_rows import text_rollout_dataset

        ds, behavior = text_rollout_dataset(self.hf_model, self.tokenizer, self.task, n, seed)
        if self.move_ids is None:
            return inputs_from_dataset(ds, ds["ids"], self.task, behavior)
        answers = np.asarray(ds[label_column("answer", self.task.answer_position)]).astype(int)
        return inputs_from_dataset(ds, ds["ids"], self.task, behavior, class_ids=torch.tensor(self.move_ids),
                                   answer_classes=answers)

    def finish(self, inputs: ProbeInputs, scored_in_pass: bool, progress: bool = False) -> dict:
        if inputs.scorer is None:
            return inputs.behavior
        result = inputs.scorer.result() if scored_in_pass else inputs.scorer.run(progress=progress)
        return result | ({"refused_pairs": inputs.refused_pairs} if inputs.cf_ids is not None else {})


def move_token_ids(tokenizer, task: Task) -> list[int] | None:
    """The token of each of the task's move words as the model replies it (" up": after the prompt's "Your move:"),
    in action order; None unless every word is one token and the tokens differ."""
    ids = [tokenizer(f" {word}", add_special_tokens=False).input_ids for word in task.ACTION_WORDS]
    flat = [i[0] for i in ids if len(i) == 1]
    return flat if len(flat) == len(ids) == len(set(flat)) else None


def speaks_task_tokens(loaded: LoadedModel, task: Task) -> bool:
    """A tiny model trained here speaks synthetic tokens (on another task's vocabulary it fails with a clear
    message); any other model, a pretrained base fine-tuned here included, speaks them only if its vocabulary has
    every one, else it gets natural language."""
    if loaded.info.get("task") and not loaded.info.get("base"):
        return True
    return set(task.vocabulary()) | {BOS} <= set(loaded.tokenizer.get_vocab())


def make_subject(loaded: LoadedModel, task: Task) -> Subject:
    return TokenSubject(loaded, task) if speaks_task_tokens(loaded, task) else TextSubject(loaded, task)
