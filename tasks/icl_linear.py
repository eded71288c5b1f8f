"""`icl-linear`: n in-context pairs (x, y = a*x + b mod p), then a query x -> y. In-context learning of a rule:
the model must find, among the p*p hypotheses (a, b), those consistent with the examples."""
from __future__ import annotations

import random

from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Instance, Param, TargetSpec, SearchTask

SEP, EQ = ",", "="


def consistent(pairs: list[tuple[int, int]], p: int) -> list[tuple[int, int]]:
    """Every (a, b) that fits the pairs, by brute force (the reference for `n_consistent`)."""
    return [(a, b) for a in range(p) for b in range(p) if all((a * x + b) % p == y for x, y in pairs)]


def n_consistent(xs: list[int], p: int) -> int:
    """How many (a, b) fit pairs drawn from one true rule, for prime p: p*p with no pair, p while one distinct x
    has been seen (one line through a point per slope), 1 from two distinct x on (two points fix a line)."""
    return {0: p * p, 1: p}.get(len(set(xs)), 1)


class ICLLinearTask(SearchTask):
    name = "icl-linear"
    summary = "n pairs (x, a*x+b mod p) then a query x -> y"
    model_size = {"n_layer": 4, "n_embd": 128, "n_head": 4, "n_positions": 64}  # measured here: README "Numbers"
    train_steps = 4000
    PARAMS = {
        "p": Param(7, 3, 31, "the modulus (prime)", prime=True),
        "n": Param(4, 1, 16, "how many in-context pairs"),
    }

    def vocabulary(self) -> list[str]:
        return [str(v) for v in range(self.params["p"])] + [SEP, EQ]

    def answer_classes(self) -> list[str]:
        return [str(v) for v in range(self.params["p"])]

    def targets(self) -> list[TargetSpec]:
        pairs = tuple(f"pair{i}" for i in range(self.params["n"]))
        return [
            TargetSpec("answer", "class", (ANSWER_POSITION,), description="y of the query"),
            TargetSpec("a", "class", (ANSWER_POSITION,), description="the slope"),
            TargetSpec("b", "class", (ANSWER_POSITION,), description="the intercept"),
            TargetSpec("hypotheses", "number", pairs, description="(a, b) still consistent after this pair", index="S1"),
        ]

    def _ys(self, a: int, b: int, xs: list[int]) -> list[int]:
        return [(a * x + b) % self.params["p"] for x in xs]

    def _determined(self, meta: dict) -> bool:
        """The answer is fixed by the examples: two distinct x seen, or the query repeats the one x seen."""
        return len(set(meta["xs"])) >= 2 or meta["query"] in meta["xs"]

    def draw(self, rng: random.Random) -> dict:
        p, n = self.params["p"], self.params["n"]
        while True:
            a, b = rng.randrange(p), rng.randrange(p)
            xs = [rng.randrange(p) for _ in range(n)]
            meta = {"a": a, "b": b, "xs": xs, "ys": self._ys(a, b, xs), "query": rng.randrange(p)}
            if self._determined(meta):
                return meta

    def perturb(self, meta: dict, rng: random.Random) -> dict:
        p = self.params["p"]
        if meta["a"] != 0:  # one token changes: the query
            return dict(meta, query=rng.randrange(p))
        b = rng.randrange(p)  # a constant rule: another intercept (every y changes with it)
        return dict(meta, b=b, ys=self._ys(0, b, meta["xs"]))

    def build(self, meta: dict) -> Instance:
        p = self.params["p"]
        tokens, positions, hyps = [BOS], {}, {}
        for i, (x, y) in enumerate(zip(meta["xs"], meta["ys"])):
            if i:
                tokens.append(SEP)
            tokens += [str(x), EQ, str(y)]
            positions[f"pair{i}"] = len(tokens) - 1
            hyps[f"pair{i}"] = n_consistent(meta["xs"][: i + 1], p)
        tokens += [SEP, str(meta["query"]), EQ]
        positions[ANSWER_POSITION] = len(tokens) - 1
        answer = (meta["a"] * meta["query"] + meta["b"]) % p
        labels = {
            "answer": {ANSWER_POSITION: answer},
            "a": {ANSWER_POSITION: meta["a"]},
            "b": {ANSWER_POSITION: meta["b"]},
            "hypotheses": hyps,
        }
        return Instance(tokens, str(answer), positions, labels, dict(meta))

    def render_text(self, meta: dict) -> tuple[str, str]:
        p = self.params["p"]
        lines = [f"f({x}) = {y}" for x, y in zip(meta["xs"], meta["ys"])]
        prompt = f"f(x) = a*x + b mod {p}.\n" + "\n".join(lines) + f"\nf({meta['query']}) ="
        return prompt, str((meta["a"] * meta["query"] + meta["b"]) % p)
