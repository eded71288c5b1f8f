"""`kv-recall`: key->value pairs in context, then a key -> its value (an in-context lookup)."""
from __future__ import annotations

import random
import string

from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Candidates, Instance, Param, TargetSpec, SearchTask

KEYS = list(string.ascii_lowercase)
QUERY = "?"


class KVRecallTask(SearchTask):
    name = "kv-recall"
    summary = "K key:value pairs, then a key -> its value"
    # One head: at 4 heads of 16 dimensions (and with one query a sequence) training stayed on the "most common value"
    # heuristic; one 64-dimensional head with several queries a sequence learns the lookup.
    recipe = SearchTask.recipe.but(
        model_size={"n_layer": 2, "n_embd": 64, "n_head": 1, "n_positions": 64},
        steps=1500,
        lr=1e-3,  # at 3e-3 it stayed on the heuristic
    )
    text_causal_forwards_per_block = 2.0  # every edit at the answer token (tasks/base.py)
    train_queries = 8  # queries a training sequence asks of one memory (`supervision`); with 4 a seed can stay stuck
    PARAMS = {
        "K": Param(4, 2, 26, "how many pairs"),
        "V": Param(10, 2, 100, "values are drawn from 0..V-1"),
    }

    def vocabulary(self) -> list[str]:
        return KEYS + [str(v) for v in range(self.params["V"])] + [QUERY]

    def answer_classes(self) -> list[str]:
        return [str(v) for v in range(self.params["V"])]

    def targets(self) -> list[TargetSpec]:
        return [
            TargetSpec("answer", "class", (ANSWER_POSITION,), description="the queried key's value"),
            TargetSpec("key_position", "class", (ANSWER_POSITION,), description="index of the queried key", index="S1"),
            TargetSpec("query_key", "class", ("query",), token_bound=True, description="the queried key itself"),
        ]

    def draw(self, rng: random.Random) -> dict:
        k = self.params["K"]
        return {
            "keys": rng.sample(KEYS, k),
            "values": [rng.randrange(self.params["V"]) for _ in range(k)],
            "query": rng.randrange(k),
        }

    def perturb(self, meta: dict, rng: random.Random) -> dict:
        new = {k: (list(v) if isinstance(v, list) else v) for k, v in meta.items()}
        if rng.random() < 0.5:  # ask for another key
            new["query"] = rng.randrange(len(meta["keys"]))
        else:  # change the queried key's value
            new["values"][meta["query"]] = rng.randrange(self.params["V"])
        return new

    def build(self, meta: dict) -> Instance:
        tokens, positions = [BOS], {}
        for i, (key, value) in enumerate(zip(meta["keys"], meta["values"])):
            tokens += [key, str(value)]
            positions[f"value{i}"] = len(tokens) - 1
        q = meta["query"]
        tokens += [QUERY, meta["keys"][q]]
        positions |= {"query": len(tokens) - 1, ANSWER_POSITION: len(tokens) - 1}
        answer = meta["values"][q]
        labels = {
            "answer": {ANSWER_POSITION: answer},
            "key_position": {ANSWER_POSITION: q},
            "query_key": {"query": KEYS.index(meta["keys"][q])},
        }
        return Instance(tokens, str(answer), positions, labels, dict(meta))

    def candidates(self, meta: dict) -> Candidates:
        """Each pair at its value token, scored 1 where its key is the queried one and 0 elsewhere: a lookup is a
        search whose scores are a match or not."""
        q = meta["query"]
        return Candidates(tuple(f"value{i}" for i in range(len(meta["keys"]))),
                          tuple(float(i == q) for i in range(len(meta["keys"]))), tuple(map(str, meta["values"])))

    def supervision(self, instance: Instance, rng: random.Random) -> tuple[list[str], dict[int, str]]:
        """The prompt, its answer, then more queries of the same memory (`? key value` each), every value
        supervised: one memory read several times."""
        meta = instance.meta
        tokens = list(instance.tokens)
        answers = {len(tokens) - 1: instance.answer}
        room = (self.recipe.model_size["n_positions"] - len(tokens)) // 3  # a long prompt leaves room for fewer
        for _ in range(min(self.train_queries - 1, room)):
            q = rng.randrange(len(meta["keys"]))
            tokens += [answers[len(tokens) - 1], QUERY, meta["keys"][q]]  # the last answer written out, a new query
            answers[len(tokens) - 1] = str(meta["values"][q])
        return tokens, answers

    def text_positions(self, meta: dict, prompt: str) -> dict[str, int]:
        return {"query": prompt.rindex(" is") - 1, ANSWER_POSITION: len(prompt) - 1}  # the queried key's letter

    def render_text(self, meta: dict) -> tuple[str, str]:
        pairs = ", ".join(f"{k}={v}" for k, v in zip(meta["keys"], meta["values"]))
        q = meta["query"]
        return f"Memory: {pairs}.\nThe value of {meta['keys'][q]} is", str(meta["values"][q])
