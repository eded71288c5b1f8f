"""The sections of docs/findings.md on probing the committed known answers (experiments/findings.py calls them):
the gallery of known answers, retargeting the search, and DAS on the search known-positive candidates."""
from __future__ import annotations

import json

from findings_common import RESULTS, fmt, table

GALLERY = {  # run -> (what the model is, the verdict a trustworthy instrument must give; "not X": any but X)
    "argmax-closest-sl": ("argmax under 'closest to a target': each candidate's score (its distance to the target) is in no "
                          "single token, the search known positive", "search-in-map"),
    "argmax-closest-sl-random-init": ("its random-init twin", "neither"),
    "argmax-sl": ("the default argmax model: answers at 100% with no used running maximum; its attention ranks the "
                  "candidates", "search-in-map"),
    "argmax-sl-random-init": ("its random-init twin", "neither"),
    "argmax-closest-K7-sl-0": ("closest to a target with K = 7 (seed 0), where the score is not written back to the "
                               "residual stream", "search-in-map"),
    "argmax-closest-K7-sl-1": ("the same, seed 1", "search-in-map"),
    "argmax-closest-K7-sl-2": ("the same, seed 2", "search-in-map"),
    "argmax-shortcut100-sl": ("the largest always last (shortcut=100): copying the last number is enough",
                              "not search-in-map"),
    "argmax-memorizer-sl": ("trained on 32 instances (--pool 32): a memorizer", "not search-in-map"),
    "rocks-sl": ("rocks: the biggest of 4 rocks, answered with its name; its candidates are the size tokens, scored "
                 "by size, and the answer is the name before the winner, so ranking in attention and the swap test "
                 "read the search over sizes", "any"),
    "kv-recall-sl": ("kv-recall: a lookup, the queried key's value; its candidates are the value tokens, scored 1 where "
                     "the key is the queried one and 0 elsewhere: attention that matches the query against every key "
                     "is a search in the seeds' sense whose scores are match or not", "any"),
    "gridworld-sl": ("gridworld, the goal written in the prompt: the visible-goal trap", "neither"),
    "goal-sum-sl": ("goal-sum (the goal only as sums mod N): the goal known positive", "goal-across-time"),
}


def meets(expected: str, verdict: str) -> bool:
    """Is `verdict` what a trustworthy instrument must give (`expected`: a verdict, "not X" or "any")?"""
    if expected.startswith("not "):
        return verdict != expected[4:]
    return expected in ("any", verdict)


def gallery_section() -> list[str]:
    """The known-answer gallery: committed probe runs of models whose right verdict is known."""
    from mesaprobe.probes.indices import CAUSAL, DECODABLE, readout_word
    from mesaprobe.probes.resummarize import resummarize, saved_task
    from mesaprobe.schema import load_results

    out = ["## The known-answer gallery", "",
           "Each run probed with `mesaprobe probe` at its defaults (runs under `experiments/results/gallery/`), "
           "re-summarised under the current rule (`bash experiments/gallery.sh WORKDIR` trains the models that are not "
           "test fixtures and probes every search entry). *Search route*: the residual stream (a running best or "
           "per-candidate scores) or candidate scoring in attention, whichever supports search more. *Breadth*: the "
           "share of the K candidates the used attention block places correctly against the answer, beside the "
           "random-init twin's. *Decodable but unused*: probe rows of the family's own variables "
           f"decodable beyond every control (> {DECODABLE}) whose causal test at the same target, block and position "
           f"moves the answer by no more than {CAUSAL} beyond its control.", ""]
    rows = []
    for name, (what, expected) in GALLERY.items():
        path = RESULTS / "gallery" / name
        if not (path / "results.json").exists():
            rows.append([name, what, expected, "not run yet", "-", "-", "-", "-"])
            continue
        saved = load_results(path)
        now = resummarize(saved, saved_task(saved))
        tested = [r for r in now["probes"] if r.get("used") is not None]
        unused = sum(r["decodable"] > DECODABLE and r["used"] <= CAUSAL for r in tested)
        readout = now["readout"]
        carried = "-" if readout is None else f"{readout_word(readout)} ({readout['effect_beyond_control']:.2f})"
        idx = {f: now["indices"][f].get("value") for f in ("search", "goal")}
        verdict = now["verdict"] + ("" if meets(expected, now["verdict"]) else " (expected " + expected + ")")
        search = now["indices"]["search"]
        route = search.get("route", "-")
        if search.get("routes", {}).get("attention", {}).get("void"):
            route += " (attention not counted: shortcut)"
        breadth = search.get("breadth")
        width = "-" if not breadth else f"{breadth['value']:.2f} ({breadth['random_init']:.2f}) of {breadth['k']}"
        rows.append([name, what, expected, verdict, fmt(idx["search"]), route, width, fmt(idx["goal"]), carried,
                     f"{unused} of {len(tested)}"])
    return out + table(["run", "model", "expected", "verdict", "search index", "search route",
                        "breadth (twin) of K", "goal index", "answer carried", "decodable but unused"], rows) + [""]


def grid_section() -> list[str]:
    """Issue 49's known answers at every size: one verdict per model of the `candidates` experiment at its standard
    size (argmax, largest and closest to a target, K = 3..12, 3 training seeds), with the route and breadth."""
    import csv

    path = RESULTS / "candidates-standard.csv"
    if not path.exists():
        return []
    rows = sorted(csv.DictReader(path.open()), key=lambda r: (int(r["rule"]), int(r["K"]), int(r["seed"])))
    rule = {0: "largest", 3: "closest to a target"}
    body = [[rule.get(int(r["rule"]), r["rule"]), r["K"], r["seed"], fmt(float(r["behavior"])),
             fmt(float(r["search_index"])), r.get("search_route") or "-",
             fmt(float(r["search_breadth"])) if r.get("search_breadth") else "-",
             fmt(float(r["search_candidates"]), 1) if r.get("search_candidates") else "-", r["verdict"]]
            for r in rows]
    verdicts = {}
    for r in rows:
        verdicts.setdefault((r["rule"], r["K"]), set()).add(r["verdict"])
    flips = [f"{rule.get(int(k[0]), k[0])} K={k[1]}" for k, v in verdicts.items() if len(v) > 1]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in sorted({r["verdict"] for r in rows})}
    return ["## Search verdicts across list lengths and training seeds", "",
            "Every model of the `candidates` experiment at `--standard` size (`experiments/results/candidates-"
            "standard/`: one row per model, each probed on 3 data seeds). Breadth: the share of the K candidates the "
            "used attention block orders correctly against the answer; candidates: K times that share beyond the "
            "random-init twin's. " + ", ".join(f"{v}: {n} of {len(rows)}" for v, n in counts.items()) + "; "
            + (f"the verdict differs between training seeds at {', '.join(flips)}." if flips else
               "no verdict differs between the training seeds of a list length and rule."), ""] + table(
        ["rule", "K", "seed", "accuracy", "search index", "route", "breadth", "candidates", "verdict"],
        body) + [""]


def retarget_section() -> list[str]:
    out = ["## Retargeting the search", ""]
    for path in sorted((RESULTS / "retarget").glob("*/results.json")):
        r = json.loads(path.read_text())
        rows = [c for c in r["causal"] if c["method"] == "retarget"]
        out += [f"`{path.parent.name}` (rules {rows[0]['rules'] if rows else '-'}; {r['task']['params']}): the share "
                "of held-out instances whose answer becomes the other rule's pick, at the alpha chosen on validation "
                "instances, beside a norm-matched random direction and no steering. Edits at the items and the answer "
                "position change the criterion the comparison uses; at the rule token they only show it is read.", ""]
        out += table(["block", "edited at", "alpha", "reach", "random", "unsteered"],
                     [[str(c["layer"]), c["position"], fmt(c["alpha"], 2), fmt(c["effect"]), fmt(c["control_effect"]),
                       fmt(c["unsteered_effect"])] for c in rows]) + [""]
    return out


DAS_FILES = {  # file -> (model, what its rows ask)
    "das-settings.jsonl": ("the windowed argmax model (tests/fixtures/argmax-window2-sl-0: attention sees 2 tokens, "
                           "6 blocks)", "the running maximum"),
    "das-closeness.jsonl": ("the closest-to-a-target argmax model (tests/fixtures/argmax-closest-sl)",
                            "one candidate's score |item - target|, scored against the best of the patched scores"),
}


def das_section() -> list[str]:
    out = ["## DAS on the search known-positive candidates", "",
           "`python experiments/das_settings.py N ...`: interchange accuracy (IIA) of a learned subspace at one block "
           "and position, held-out rows where the patched value changes the predicted answer, beside a random subspace "
           "of the same rank. Rank 64 patches the whole residual stream: the most any subspace there can reach. The "
           "bar for a search known positive: IIA >= 0.9 against <= 0.2.", ""]
    for name, (model, variable) in DAS_FILES.items():
        path = RESULTS / name
        if not path.exists():
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        out += [f"`{name}`: {model}; {variable}.", ""] + table(
            ["rank", "steps", "lr", "block", "position", "IIA", "random", "rows"],
            [[str(r["rank"]), str(r["steps"]), str(r["lr"]), str(r["layer"]), r["position"], fmt(r["iia"]),
              fmt(r["random"]), str(r["n"])] for r in rows]) + [""]
    return out
