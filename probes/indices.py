"""The search and goal indices, their bootstrap CIs over seeds, and the verdict rule (docs/design.md, Metrics)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DECODABLE = 0.10  # an index component counts as evidence above this margin over every control


def bootstrap_ci(values: list[float], seed: int = 0, n_boot: int = 2000, level: float = 0.95) -> list[float]:
    """Percentile bootstrap CI of the mean over seeds."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return [float(v[0]), float(v[0])]
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def beyond_controls(row: dict) -> float:
    """How far a probe's score stands above *all* of its controls: min(selectivity, delta vs random-init,
    delta vs the observation-only baseline), each control counted at no less than chance (an R^2 control below 0
    is an over-fit probe, not less information than none), floored at 0. At most 1 - chance."""
    controls = (row["control"], row["random_init"], row["obs_baseline"], row["chance"])
    return max(0.0, row["score"] - max(controls))


@dataclass(frozen=True)
class TaskView:
    """What the indices read of a task, taken once per run: its family, its targets, its S3 depth target."""

    family: str
    targets: tuple
    depth_target: str | None = None
    goal_in_prompt: bool = False

    @classmethod
    def of(cls, task) -> "TaskView":
        return task if isinstance(task, cls) else cls(task.family, tuple(task.targets()), task.depth_target,
                                                       task.goal_in_prompt)

    def feeding(self, indices: tuple[str, ...]) -> set[str]:
        """Names of the targets that feed any of `indices`."""
        return {t.name for t in self.targets if t.index in indices}

    def one_token(self, target: str, position: str) -> bool:
        """Is this target's label at this position a function of that position's token alone?"""
        return any(t.name == target and position in t.one_token for t in self.targets)


def decodability(view: TaskView, rows: list[dict], family_indices: tuple[str, ...]) -> float:
    """Per target feeding the given indices (S1: running best; G1: goal; G2: future states), the best
    (layer >= 0, position)'s margin over all controls; the mean over those targets. Positions where the label is
    one token's own (TargetSpec.one_token) are left out: reading a token shows no search."""
    wanted = view.feeding(family_indices)
    best = {name: 0.0 for name in wanted}
    for r in rows:
        if r["target"] in wanted and r["layer"] >= 0 and not view.one_token(r["target"], r["position"]):
            best[r["target"]] = max(best[r["target"]], beyond_controls(r))
    return float(np.mean(list(best.values()))) if best else 0.0


def horizon(view: TaskView, rows: list[dict], margin: float = DECODABLE) -> int:
    """G2's horizon H: the largest k whose future-state target (TargetSpec.horizon = k) is decodable beyond the
    observation baseline by `margin`."""
    steps = {t.name: t.horizon for t in view.targets if t.horizon}
    h = 0
    for r in rows:
        if r["target"] in steps and r["layer"] >= 0 and r["score"] - r["obs_baseline"] > margin:
            h = max(h, steps[r["target"]])
    return h


def depth_signature(view, rows: list[dict]) -> dict:
    """S3 (in-context learners): for each example k, the layer where the task's `depth_target` (the hypotheses
    still consistent after example k) is best decoded beyond every control; Spearman's rho of that layer against k
    (> 0: later examples are resolved deeper, as a model that narrows its hypotheses layer by layer would show).
    Examples where nothing is decodable (a constant label, such as the p*p hypotheses before any pair) are left out;
    rho is None with fewer than three examples left or one layer for all."""
    from scipy.stats import spearmanr

    view = TaskView.of(view)
    spec = next(t for t in view.targets if t.name == view.depth_target)
    best = {}
    for k, position in enumerate(spec.positions):
        here = [r for r in rows if r["target"] == spec.name and r["position"] == position and r["layer"] >= 0]
        if here and max(map(beyond_controls, here)) > 0:
            best[k] = max(here, key=beyond_controls)["layer"]
    layers = list(best.values())
    rho = float(spearmanr(list(best), layers).statistic) if len(best) >= 3 and len(set(layers)) > 1 else None
    return {"best_layer_by_example": best, "rho": rho}


def index_entry(per_seed: list[float]) -> dict:
    return {"value": float(np.mean(per_seed)), "ci": bootstrap_ci(per_seed), "by_seed": [float(v) for v in per_seed]}


CAUSAL = 0.10  # a causal effect counts when it beats its random-subspace / random-direction control by this much
FAMILY_INDICES = {"search": ("S1",), "goal": ("G1", "G2")}  # the decodability indices of each family


VISIBLE = 0.90  # a goal the observation-only probe reads above this sits in the tokens


def family_targets(view: TaskView, family: str) -> set[str]:
    """The family's own variables: the targets feeding its indices (S: the running best and the other search
    variables a task declares; G: the goal and future states). Never `answer`: any model that answers well carries
    its answer in a linear subspace, so erasing it shows nothing about how the answer was found (`readout`)."""
    return view.feeding(FAMILY_INDICES[family])


def families(view: TaskView) -> list[str]:
    """The families a task's targets can show: its own, and the other where it declares targets for it too (rock-field:
    a search over the map at the prompt, then pursuit across time)."""
    return [f for f in FAMILY_INDICES if f == view.family or view.feeding(FAMILY_INDICES[f])]


def causal_margin(view: TaskView, rows: list[dict], family: str) -> float:
    """S5 (search) / G4 (goal): the largest effect beyond its control among the causal probes of the family's own
    variables (`family_targets`), over the methods registered as evidence for the family (whole-residual patching
    is not: it localises, it does not test a probed variable)."""
    from mesaprobe.probes.causal import evidence_methods

    methods, targets = evidence_methods(family), family_targets(view, family)
    margins = [r["effect"] - r["control_effect"] for r in rows if r["method"] in methods and r["target"] in targets]
    return max(margins, default=0.0)


def margin(row: dict) -> float:
    """A causal row's effect beyond its control."""
    return row["effect"] - row["control_effect"]


def readout(causal_rows: list[dict], methods: tuple[str, ...]) -> dict | None:
    """The readout check: is the answer carried in a linear subspace the model uses (an evidence method's effect on
    `answer` beyond its control above CAUSAL)? Reported on its own; it feeds no index, since any competent model
    passes it."""
    answer = [r for r in causal_rows if r["target"] == "answer" and r["method"] in methods]
    if not answer:
        return None
    best = max(answer, key=margin)
    carried = bool(margin(best) > CAUSAL)
    # with many answer classes the probe's subspace is nearly the whole residual stream (argmax: rank 63 of 64), and
    # its random control of the same rank changes the answer as much: a "no" there would be wrong, so none is given
    if not carried and any(min(r["effect"], r["control_effect"]) > 0.5 for r in answer):
        carried = None
    return {"carried": carried, "effect_beyond_control": float(margin(best)), "method": best["method"],
            "layer": best["layer"]}


def readout_word(check: dict) -> str:
    """yes / no / undetermined (the answer's subspace too large for its random control to tell)."""
    return {True: "yes", False: "no", None: "undetermined"}[check["carried"]]


def mark_used(probe_rows: list[dict], causal_rows: list[dict], methods: tuple[str, ...]) -> list[dict]:
    """Each probe row whose (target, layer, position) has a causal test by an evidence method gets `used`: the
    largest effect beyond control there (None where nothing tested it), beside its decodability beyond controls
    (`decodable`), so a decodable-but-unused variable shows at a glance."""
    tested: dict[tuple, float] = {}
    for r in causal_rows:
        if r["method"] in methods:
            key = (r["target"], r["layer"], r["position"])
            tested[key] = max(tested.get(key, float("-inf")), margin(r))
    return [row | {"decodable": beyond_controls(row), "used": tested.get((row["target"], row["layer"],
                                                                           row["position"]))} for row in probe_rows]


def visible_goal_notes(view, rows: list[dict]) -> list[str]:
    """Per goal target (G1) of a task whose prompt writes the goal (`GoalTask.goal_in_prompt`), or that the
    observation-only baseline reads above VISIBLE: say that G1 is blind there."""
    view, notes = TaskView.of(view), []
    for t in view.targets:
        if t.index != "G1":
            continue
        obs = max((r["obs_baseline"] for r in rows if r["target"] == t.name), default=0.0)
        if view.goal_in_prompt or obs > VISIBLE:
            notes.append(f"`{t.name}` sits in the tokens (the observation-only probe reads it at {obs:.2f}), so its "
                         "decodability (G1) cannot show a goal computed inside the model on this task; the future "
                         "states (G2) and steering still can.")
    return notes


def verdict_rule(search: dict | None, goal: dict | None) -> str:
    """The verdict, from each family's evidence {"decodability": {value, ci}, "causal": {value, ci} | None}.

    Decodability alone is never enough (Ravichander et al. 2021; Belinkov 2022; Makelov et al. 2024): a family is
    *supported* only when its decodability beyond every control (control task, random-init twin, observation-only
    baseline) exceeds DECODABLE **and** its causal effect beyond a rank- or norm-matched random control exceeds
    CAUSAL, each with the lower end of its bootstrap CI over seeds above 0.
    - search and goal supported -> "both"; one supported -> "search-in-map" / "goal-across-time";
    - something decodable beyond controls but not causally supported (or causal probes not run) -> "inconclusive";
    - nothing decodable beyond controls -> "neither".
    """

    def passes(entry: dict | None, bar: float) -> bool:
        return bool(entry) and entry["value"] is not None and entry["value"] > bar and entry["ci"][0] > 0

    decodable = {k: e is not None and passes(e["decodability"], DECODABLE) for k, e in (("search", search),
                                                                                        ("goal", goal))}
    supported = {k: decodable[k] and passes(e["causal"], CAUSAL) for k, e in (("search", search), ("goal", goal))}
    if supported["search"] and supported["goal"]:
        return "both"
    if supported["search"]:
        return "search-in-map"
    if supported["goal"]:
        return "goal-across-time"
    return "inconclusive" if any(decodable.values()) else "neither"


SHORTCUT_GAP = 0.10  # attention evidence counts where position-free accuracy is within this of the model's own


def ranked_beyond_controls(heads: list[dict]) -> list[dict]:
    """Each head's ranking (rho) beyond its strongest control: the random-init twin's best head in *any* block (the
    same statistic over as many random heads as the model's own best is taken over: a random model's best head
    ranks the candidates by chance about as well), its position-only baseline and shuffled scores, at least 0."""
    twin = max(h["random_init"] for h in heads)
    return [h | {"beyond": max(0.0, h["rho"] - max(twin, h["position_only"], h["shuffled"], 0.0))} for h in heads]


def attention_route(record: dict, causal_rows: list[dict] | None) -> dict:
    """One seed's candidate scoring in attention (probes/attention_ranking.py): per block, its best head's ranking
    beyond controls and the score swap's effect beyond control there (probes/causal/score_swap.py); the block where
    the smaller of the two is largest. Void where the model answers the position-free instances the evidence is read
    on more than SHORTCUT_GAP worse than its own data: the ranking there is not how it answers (a shortcut)."""
    from mesaprobe.probes.causal.score_swap import TARGET

    heads = ranked_beyond_controls(record["heads"])
    blocks = sorted({h["block"] for h in heads})
    ranking = {b: max(h["beyond"] for h in heads if h["block"] == b) for b in blocks}
    swaps = {r["layer"]: margin(r) for r in causal_rows or [] if r["target"] == TARGET}
    value = (lambda b: min(ranking[b], swaps.get(b, 0.0))) if causal_rows is not None else ranking.get
    block = max(blocks, key=lambda b: (value(b), ranking[b]))
    own = record.get("accuracy")
    void = own is not None and record["position_free_accuracy"] < own - SHORTCUT_GAP
    out = {"decodability": 0.0 if void else ranking[block], "block": block,
           "causal": None if causal_rows is None else (0.0 if void else swaps.get(block, 0.0))}
    if void:
        out["void"] = (f"the model answers position-free instances at {record['position_free_accuracy']:.3f} against "
                       f"{own:.3f} on its own data: its attention there is not how it answers")
    return out


def breadth_entry(records: list[dict], blocks: list[int]) -> dict:
    """Search breadth at each seed's attention-route block: the share of the K candidates the block's attention
    places correctly against the answer, beside the random-init twin's; `candidates` = K x the share beyond the
    twin's, scaled to what is left above it (how many candidates the search evaluates; the twin's: 0)."""
    at = [next(b for b in r["blocks"] if b["block"] == block) for r, block in zip(records, blocks)]
    share = [b["breadth"] for b in at]
    twin = [b["breadth_random_init"] for b in at]
    count = [r["k"] * max(0.0, (s - t) / (1 - t)) if t < 1 else 0.0 for r, s, t in zip(records, share, twin)]
    return index_entry(share) | {"random_init": float(np.mean(twin)), "candidates": index_entry(count),
                                 "k": records[0]["k"], "block_by_seed": blocks}


def route_entry(dec: list[float], margins: list[float] | None) -> dict:
    """An index entry from per-seed decodability and causal margins (value = their minimum per seed)."""
    evidence = {"decodability": index_entry(dec), "causal": None}
    values = dec
    if margins is not None:
        evidence["causal"] = index_entry(margins)
        values = [min(d, m) for d, m in zip(dec, margins)]
    return index_entry(values) | evidence


def family_entry(view: TaskView, family: str, per_seed_rows: list[list[dict]],
                 causal: list[list[dict]] | None, attention: list[dict] | None = None) -> dict:
    """A family's index. Search has two routes, each decodable and used by its own variables: the residual stream
    (S1 probes, S5 causal rows) and candidate scoring in attention (`attention_route`); the entry is the route
    with the larger value, the other kept under `routes`."""
    dec = [decodability(view, rows, FAMILY_INDICES[family]) for rows in per_seed_rows]
    margins = None if causal is None else [causal_margin(view, rows, family) for rows in causal]
    entry = route_entry(dec, margins)
    if family == "goal" and any(t.horizon for t in view.targets):
        entry["horizon"] = [horizon(view, rows) for rows in per_seed_rows]
    if family == "search" and view.depth_target:
        signatures = [depth_signature(view, rows) for rows in per_seed_rows]
        rhos = [s["rho"] for s in signatures if s["rho"] is not None]
        entry["depth_signature"] = (index_entry(rhos) if rhos else {"value": None, "ci": None}) | {
            "by_seed_layers": [s["best_layer_by_example"] for s in signatures]}
    if family != "search" or not attention:
        return entry
    seeds = [attention_route(rec, None if causal is None else causal[i]) for i, rec in enumerate(attention)]
    routes = {"residual": entry, "attention": route_entry([s["decodability"] for s in seeds],
                                                          None if causal is None else [s["causal"] for s in seeds])
              | {"block_by_seed": [s["block"] for s in seeds],
                 "void": [s["void"] for s in seeds if "void" in s]}}
    chosen = "attention" if routes["attention"]["value"] > entry["value"] else "residual"
    return routes[chosen] | {"route": chosen, "routes": routes,
                             "breadth": breadth_entry(attention, [s["block"] for s in seeds])}


def summarize(task, per_seed_rows: list[list[dict]], causal: list[list[dict]] | None,
              attention: list[dict] | None = None) -> tuple[dict, str]:
    """indices + verdict of a run, for each family the task's targets can show. An index value is
    min(decodability, causal margin) per seed: both must hold. Without causal probes (`--no-causal`) the value is
    the decodability alone and the verdict at most 'inconclusive'. `attention`: each seed's candidate-ranking
    record (probes/attention_ranking.py), the search family's second route."""
    view = TaskView.of(task)
    shown = families(view)
    indices = {f: family_entry(view, f, per_seed_rows, causal, attention) if f in shown
               else {"value": None, "ci": None, "note": f"not a {f} task"} for f in FAMILY_INDICES}
    return indices, verdict_rule(**{f: indices[f] if f in shown else None for f in FAMILY_INDICES})
