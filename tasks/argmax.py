"""`argmax`: K distinct numbers -> the largest (or, with the `rule` knobs, the smallest, the second largest or the
one closest to a target, the rule given as a token before the numbers). The model must search its input in one
forward pass."""
from __future__ import annotations

import random

from mesaprobe.tasks.base import ANSWER_POSITION, BOS, Candidates, Instance, Param, TargetSpec, SearchTask

QUERY = ">"
RULES = ("largest", "smallest", "second largest", "closest to")
RULE_TOKENS = [f"rule:{r.replace(' ', '_')}" for r in RULES]


def rule_pick(rule: int, values: list[int], target: int) -> int:
    """Index of the value the rule picks (second largest of one value: that value)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    if rule == 0:
        return order[-1]
    if rule == 1:
        return order[0]
    if rule == 2:
        return order[max(0, len(order) - 2)]
    return min(range(len(values)), key=lambda i: (abs(values[i] - target), values[i]))


class ArgmaxTask(SearchTask):
    name = "argmax"
    summary = "K distinct numbers in 0..V-1 -> the largest"
    recipe = SearchTask.recipe.but(steps=1500)
    per_rule_target = "running_best"
    PARAMS = {
        "K": Param(5, 2, 20, "how many numbers"),
        "V": Param(64, 4, 500, "numbers are drawn from 0..V-1"),
        "shortcut": Param(0, 0, 100, "percent of instances whose largest number is put last (a shortcut that "
                                     "spares the search)"),
        "rule": Param(0, 0, 3, "which value is the answer: 0 largest, 1 smallest, 2 second largest, 3 closest to a "
                               "target number; any rule but 0 alone is written as a rule token and a target first"),
        "rules": Param(1, 1, 4, "how many rules the instances mix, from `rule` on (wrapping); each instance names "
                                "its own"),
        "rule_token": Param(0, 0, 1, "1: write the rule token and target even for rule 0 alone (so a model trained "
                                     "on some rules can be tested on another)"),
    }

    def validate(self) -> None:
        from mesaprobe.errors import UserError

        if self.params["V"] < self.params["K"]:
            raise UserError(f"argmax: V={self.params['V']} must be >= K={self.params['K']} (the numbers are distinct)")

    @property
    def ruled(self) -> bool:
        return self.params["rules"] > 1 or self.params["rule"] != 0 or bool(self.params["rule_token"])

    def held_out(self) -> dict | None:
        """Parameters of the same instances under the rule just before the mix (`rule` - 1, wrapping), which a
        mix of fewer than all rules leaves out: mixes from rule 1 on of 1, 2 and 3 rules share one held-out rule,
        largest (None: every rule trained, or no rule tokens to name one with)."""
        if not self.ruled or self.params["rules"] == len(RULES):
            return None
        return self.params | {"rule": (self.params["rule"] - 1) % len(RULES), "rules": 1, "rule_token": 1}

    def items(self) -> list[str]:
        return [f"item{i}" for i in range(self.params["K"])]

    def vocabulary(self) -> list[str]:
        return [str(v) for v in range(self.params["V"])] + [QUERY] + (RULE_TOKENS if self.ruled else [])

    def answer_classes(self) -> list[str]:
        return [str(v) for v in range(self.params["V"])]

    def targets(self) -> list[TargetSpec]:
        items, ruled = tuple(self.items()), self.ruled
        max_index = None if ruled else "S1"  # under rules the running best is the rule's, not the maximum
        specs = [
            TargetSpec("answer", "class", (ANSWER_POSITION,), description="the number the rule picks"),
            TargetSpec("running_max", "number", items, description="largest number so far", index=max_index,
                       one_token=items[:1]),
            TargetSpec("running_argmax", "class", items, description="index of the largest number so far",
                       index=max_index, one_token=items[:1]),
            TargetSpec("is_new_best", "class", items, description="this number beats all before it"),
            TargetSpec("argmax", "class", (ANSWER_POSITION,), description="index of the number the rule picks"),
            TargetSpec("second_largest", "number", (ANSWER_POSITION,), description="the second largest number"),
        ]
        if ruled:
            specs += [
                TargetSpec("running_best", "number", items, description="the rule's pick so far", index="S1",
                           one_token=items[:1]),
                TargetSpec("running_best_index", "class", items, description="index of the rule's pick so far",
                           index="S1", one_token=items[:1]),
                TargetSpec("rule", "class", ("rule",), token_bound=True, description="the instance's rule"),
            ]
        if self.uses_rule(3):  # a candidate's score is in no single token: |item - target| needs both
            specs.append(TargetSpec("closeness", "number", items, index="S1",
                                    description="a candidate's score under 'closest to': |item - target|"))
        return specs

    def uses_rule(self, rule: int) -> bool:
        first, count = self.params["rule"], self.params["rules"]
        return self.ruled and any((first + i) % len(RULES) == rule for i in range(count))

    def draw(self, rng: random.Random) -> dict:
        values = rng.sample(range(self.params["V"]), self.params["K"])
        rule, target = 0, -1
        if self.ruled:
            rule = (self.params["rule"] + rng.randrange(self.params["rules"])) % len(RULES)
            target = rng.randrange(self.params["V"])
        if self.params["shortcut"] and rng.random() * 100 < self.params["shortcut"]:
            values.append(values.pop(rule_pick(rule, values, target)))
        return {"values": values} | ({"rule": rule, "target": target} if self.ruled else {})

    def intervened_answer(self, meta: dict, target: str, position: str, value: float) -> str | None:
        """The search as a causal model: the running best at item k, then the rule applied to it and the items
        after k. A running best set to `value` competes with the later items as that number; a running index set
        to j competes as the instance's own item j."""
        values, k = list(meta["values"]), int(position.removeprefix("item"))
        rule, later = meta.get("rule", 0), values[k + 1:]
        if target == "closeness":  # candidate k's score set to `value`; the others keep theirs; the best score wins
            if rule != 3:
                return None
            scores = [abs(v - meta["target"]) for v in values]
            scores[k] = value
            return str(values[min(range(len(values)), key=lambda i: (scores[i], values[i]))])
        if target in ("running_max", "running_best"):
            pool = [int(value)] + later
        elif target in ("running_argmax", "running_best_index"):
            pool = [values[int(value)]] + later
        else:
            return None
        if target in ("running_max", "running_argmax"):
            rule = 0  # the maximum's own variables, whatever the instance's rule
        if rule == 2 and len(pool) > 1:  # second largest: the running pair is not one variable; no model
            return None
        return str(pool[rule_pick(rule, pool, meta.get("target", -1))])

    def candidates(self, meta: dict) -> Candidates | None:
        """The K numbers, scored by the instance's rule: largest the value, smallest its negative, closest to a target
        -|value - target| (a tie goes to the smaller value, as `rule_pick`); second largest has no per-candidate
        score (it depends on the others), so None."""
        values, rule, target = meta["values"], meta.get("rule", 0), meta.get("target", -1)
        if rule == 2:
            return None
        scores = {0: lambda v: float(v), 1: lambda v: -float(v),
                  3: lambda v: -(abs(v - target) + 0.5 * (v > target))}[rule]
        return Candidates(tuple(f"item{i}" for i in range(len(values))), tuple(map(scores, values)),
                          tuple(map(str, values)))

    def position_free(self) -> "ArgmaxTask":
        return self if not self.params["shortcut"] else type(self)(**(self.params | {"shortcut": 0}))

    def perturb(self, meta: dict, rng: random.Random) -> dict:
        values = list(meta["values"])
        values[rng.randrange(len(values))] = rng.choice([v for v in range(self.params["V"]) if v not in values])
        return dict(meta, values=values)

    def build(self, meta: dict) -> Instance:
        values = meta["values"]
        best, best_i = -1, -1
        running = {"running_max": {}, "running_argmax": {}, "is_new_best": {}}
        for i, v in enumerate(values):
            new = v > best
            if new:
                best, best_i = v, i
            running["running_max"][f"item{i}"] = best
            running["running_argmax"][f"item{i}"] = best_i
            running["is_new_best"][f"item{i}"] = int(new)
        rule, target = meta.get("rule", 0), meta.get("target", -1)
        pick = rule_pick(rule, values, target)
        labels = running | {
            "answer": {ANSWER_POSITION: values[pick]},
            "argmax": {ANSWER_POSITION: pick},
            "second_largest": {ANSWER_POSITION: sorted(values)[-2]},
        }
        prefix, positions = [], {}
        if self.uses_rule(3):
            labels["closeness"] = {f"item{i}": abs(v - target) for i, v in enumerate(values)}
        if self.ruled:
            prefix, positions = [RULE_TOKENS[rule], str(target)], {"rule": 1}
            picks = [rule_pick(rule, values[: i + 1], target) for i in range(len(values))]
            labels |= {"running_best": {f"item{i}": values[j] for i, j in enumerate(picks)},
                       "running_best_index": {f"item{i}": j for i, j in enumerate(picks)},
                       "rule": {"rule": rule}}
            for other in range(len(RULES)):  # every rule's running best, for probes/rule_transfer.py
                labels[f"running_best_under{other}"] = {
                    f"item{i}": values[rule_pick(other, values[: i + 1], target)] for i in range(len(values))}
        tokens = [BOS, *prefix, *map(str, values), QUERY]
        positions |= {f"item{i}": 1 + len(prefix) + i for i in range(len(values))}
        positions[ANSWER_POSITION] = len(tokens) - 1
        return Instance(tokens, str(values[pick]), positions, labels, dict(meta, values=list(values)))

    def text_candidates(self, meta: dict) -> list[str]:
        return [str(v) for v in meta["values"]]

    def text_positions(self, meta: dict, prompt: str) -> dict[str, int]:
        out, cursor = {}, prompt.index(":")
        for i, v in enumerate(meta["values"]):
            cursor = prompt.index(str(v), cursor + 1)
            out[f"item{i}"] = cursor + len(str(v)) - 1
            cursor += len(str(v)) - 1
        return out | {ANSWER_POSITION: len(prompt) - 1}

    def render_text(self, meta: dict) -> tuple[str, str]:
        values, rule = ", ".join(map(str, meta["values"])), meta.get("rule", 0)
        pick = meta["values"][rule_pick(rule, meta["values"], meta.get("target", -1))]
        ask = f"number closest to {meta['target']}" if rule == 3 else f"{RULES[rule]} number"
        return f"Numbers: {values}.\nThe {ask} is", str(pick)
