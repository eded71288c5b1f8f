"""`icl-linear`: n in-context pairs (x, y = a*x + b mod p), then a query x -> y. In-context learning of a rule:
the model must find, among the p*p hypotheses (a, b), those consistent with the examples. Each example is one token
`x:y` (the model reads a whole example at one position, where `hypotheses` is labelled) and the query is `x?`."""
from __future__ import annotations

import random

from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Instance, Param, TargetSpec, SearchTask



def pair_token(x: int, y: int) -> str:
    return f"{x}:{y}"


def query_token(x: int) -> str:
    return f"{x}?"


def n_consistent(xs: list[int], p: int) -> int:
    """How many (a, b) fit pairs drawn from one true rule, for prime p: p*p with no pair, p while one distinct x
    has been seen (one line through a point per slope), 1 from two distinct x on (two points fix a line)."""
    return {0: p * p, 1: p}.get(len(set(xs)), 1)


class ICLLinearTask(SearchTask):
    name = "icl-linear"
    summary = "n pairs (x, a*x+b mod p) then a query x -> y"
    recipe = SearchTask.recipe.but(
        model_size={"n_layer": 2, "n_embd": 128, "n_head": 4, "n_positions": 64},
        steps=5000,  # with the hold below, 147-157 s on 2 cores (README "Numbers")
        lr=1e-3,
        hold=0.8,  # the loss leaves its copying plateau late (~1500 steps): keep the peak rate for what follows
    )
    train_queries = 4  # queries a training sequence asks of one rule (`supervision`)
    depth_target = "hypotheses"  # S3: the layer where it is best decoded, against the example's index
    PARAMS = {
        "p": Param(7, 3, 31, "the modulus (prime)", prime=True),
        "n": Param(4, 1, 16, "how many in-context pairs"),
    }

    def vocabulary(self) -> list[str]:
        p = self.params["p"]
        return ([pair_token(x, y) for x in range(p) for y in range(p)] + [query_token(x) for x in range(p)]
                + [str(v) for v in range(p)])

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
            tokens.append(pair_token(x, y))
            positions[f"pair{i}"] = len(tokens) - 1
            hyps[f"pair{i}"] = n_consistent(meta["xs"][: i + 1], p)
        tokens.append(query_token(meta["query"]))
        positions[ANSWER_POSITION] = len(tokens) - 1
        answer = (meta["a"] * meta["query"] + meta["b"]) % p
        labels = {
            "answer": {ANSWER_POSITION: answer},
            "a": {ANSWER_POSITION: meta["a"]},
            "b": {ANSWER_POSITION: meta["b"]},
            "hypotheses": hyps,
        }
        return Instance(tokens, str(answer), positions, labels, dict(meta))

    def supervision(self, instance: Instance, rng: random.Random) -> tuple[list[str], dict[int, str]]:
        """The prompt, its answer, then more queries of the same rule (`x?` then y each), every y supervised. The
        added queries ask for an x the examples do not show whenever they fix the rule, so copying a seen y cannot
        answer them."""
        meta, p = instance.meta, self.params["p"]
        tokens, answers = list(instance.tokens), {len(instance.tokens) - 1: instance.answer}
        unseen = [x for x in range(p) if x not in meta["xs"]]
        # queries the examples answer: an unseen x once two distinct x fix the rule, else the one x seen
        determined = (unseen or range(p)) if len(set(meta["xs"])) >= 2 else meta["xs"][:1]
        room = (self.recipe.model_size["n_positions"] - len(tokens)) // 2  # a long prompt leaves room for fewer
        for _ in range(min(self.train_queries - 1, room)):
            x = rng.choice(determined)
            tokens += [answers[len(tokens) - 1], query_token(x)]  # the last answer written out, a new query
            answers[len(tokens) - 1] = str((meta["a"] * x + meta["b"]) % p)
        return tokens, answers

    def render_text(self, meta: dict) -> tuple[str, str]:
        p = self.params["p"]
        lines = [f"f({x}) = {y}" for x, y in zip(meta["xs"], meta["ys"])]
        prompt = f"f(x) = a*x + b mod {p}.\n" + "\n".join(lines) + f"\nf({meta['query']}) ="
        return prompt, str((meta["a"] * meta["query"] + meta["b"]) % p)
