"""A first probe of a pretrained LM with every option at its default (issue: know the cost before paying it).
Target: `mesaprobe probe smollm2 kv-recall --out r` on this project's 2-core CPU machine says its estimate within 60 s
and finishes within 10 minutes. Also measured, in the same run: how far the estimate (said after the first batch) is
from the wall time, and what reusing each prompt's clean prefix (probes/prefix_cache.py) saves on the causal probes'
edited passes: candidate scores of the same rows under the same edit, full forwards vs from the first edited token,
with the largest difference between the two.

    python benchmarks/lm_first_probe.py [--model smollm2] [--task kv-recall] [--out benchmarks/lm_first_probe.json]"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import torch

from mesaprobe.fsutil import atomic_write_json
from mesaprobe.models.loading import load_model
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.models.subjects.text_pairs import text_pairs
from mesaprobe.probes.intervene import candidate_scores
from mesaprobe.probes.prefix_cache import reusing_prefixes
from mesaprobe.tasks import get_task


def first_probe(model: str, task: str) -> dict:
    """`mesaprobe probe MODEL TASK --out D` as a user runs it: when its estimate line came, what it said, the wall."""
    with tempfile.TemporaryDirectory() as d:
        start, said_at, said = time.perf_counter(), None, None
        cmd = [sys.executable, "-m", "mesaprobe.cli", "probe", model, task, "--out", f"{d}/r"]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env=os.environ | {"PYTHONUNBUFFERED": "1"})
        for line in proc.stderr:
            if said is None and line.startswith("estimate: about"):
                said_at, said = time.perf_counter() - start, line.strip()
        wall = time.perf_counter() - start
        if proc.wait():
            raise SystemExit(f"the probe failed: {' '.join(cmd)}")
        results = json.loads(open(f"{d}/r/results.json").read())
        config = json.loads(open(f"{d}/r/config.json").read())
    minutes = re.search(r"about (\d+) (s|min) from here", said or "")
    predicted = None if minutes is None else float(minutes[1]) * (60 if minutes[2] == "min" else 1) + said_at
    return {"command": " ".join(["mesaprobe", *cmd[3:-2], "--out", "r"]), "wall_s": round(wall, 1),
            "estimate_after_s": None if said_at is None else round(said_at, 1), "estimate": said,
            "estimated_total_s": predicted, "n": config["n"], "seeds": config["seeds"],
            "causal_layers": sorted({r["layer"] for r in results["causal"] if r["layer"] >= 0}),
            "phase_s": results["environment"]["phase_s"], "verdict": results["verdict"],
            "behavior": {k: results["behavior"][k] for k in ("accuracy", "chance")},
            "target": {"estimate_within_s": 60, "wall_within_s": 600},
            "meets_target": said_at is not None and said_at <= 60 and wall <= 600}


def prefix_reuse(model: str, task: str, n: int = 40) -> list[dict]:
    """Candidate scores of `n` prompts under an edit at the answer token and one at the middle of the prompt: full
    forwards vs from the first edited token (the store filled in the timed call, as in a probe's first method)."""
    m = load_model(model)
    pairs = text_pairs(get_task(task), m.tokenizer, n, 0)
    ids, _ = pad_batch([ex.ids for ex in pairs.base], m.tokenizer.pad_token_id)
    last = torch.tensor([len(ex.ids) - 1 for ex in pairs.base])
    cands = pairs.candidate_ids(m.tokenizer)
    layer = m.n_layers // 2
    out = []
    for name, pos in (("answer token", last), ("middle of the prompt", last // 2)):
        edits = [(layer, pos, lambda x, rows: x * 0.5)]
        start = time.perf_counter()
        full = candidate_scores(m.bridge, ids, last, cands, edits)
        full_s = time.perf_counter() - start
        with reusing_prefixes(m.bridge):
            start = time.perf_counter()
            first = candidate_scores(m.bridge, ids, last, cands, edits)  # fills the store
            first_s = time.perf_counter() - start
            start = time.perf_counter()
            again = candidate_scores(m.bridge, ids, last, cands, edits)
            again_s = time.perf_counter() - start
        ok = torch.isfinite(full)
        out.append({"edit at": name, "n": n, "block": layer, "full_s": round(full_s, 2),
                    "reused_first_call_s": round(first_s, 2), "reused_later_calls_s": round(again_s, 2),
                    "speedup_later_calls": round(full_s / again_s, 2),
                    "max_abs_difference": float((full[ok] - first[ok]).abs().max())})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--task", default="kv-recall")
    parser.add_argument("--out", default="benchmarks/lm_first_probe.json")
    args = parser.parse_args()
    probe = first_probe(args.model, args.task)
    phases = [{"phase": k, "seconds": v} for k, v in probe.pop("phase_s").items()]
    result = {"model": args.model, "task": args.task, "threads": torch.get_num_threads(), "first_probe": probe,
              "phases": phases, "prefix_reuse": prefix_reuse(args.model, args.task)}
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
