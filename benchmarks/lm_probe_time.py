"""Wall time of `mesaprobe probe` on a pretrained LM over every layer (issue: pretrained LMs).
Target: SmolLM2-135M, argmax in natural language, 500 prompts, 31 hook points (embeddings + 30 blocks), one seed:
<= 10 minutes on this project's 2-core CPU machine. Also reported: that wall time in units of one bare HF forward
pass over the same 500 prompts (same batches, measured in this process), which travels between machines better.
Causal probes are left out (`causal=False`): on text they cost several forwards per example and causal block, and a
run reports their own phase time (`phase_s["causal probes"]`).

    python benchmarks/lm_probe_time.py [--model smollm2] [--task argmax] [--n 500] [--out benchmarks/lm_probe_time.json]"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from mesaprobe.fsutil import atomic_write_json
from mesaprobe.models.forward import token_batches
from mesaprobe.models.loading import load_model
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.models.subjects.text_eval import text_examples
from mesaprobe.probes.run import run_probe
from mesaprobe.tasks import get_task


@torch.no_grad()
def bare_forward_s(model: str, task, n: int) -> float:
    """One plain HF forward over the probe's prompts (seed 0), in the batches extraction uses."""
    m = load_model(model)
    examples = text_examples(task, m.tokenizer, n, 0)
    ids, _ = pad_batch([ex.ids for ex in examples], m.tokenizer.pad_token_id)
    lengths = [len(ex.ids) for ex in examples]
    start = time.perf_counter()
    for rows in token_batches(lengths):
        m.hf_model(ids[rows, : max(lengths[rows])], use_cache=False, logits_to_keep=1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--task", default="argmax")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--out", default="benchmarks/lm_probe_time.json")
    args = parser.parse_args()
    task = get_task(args.task)
    with tempfile.TemporaryDirectory() as d:
        res = run_probe(args.model, task, f"{d}/run", n=args.n, seeds=1, progress=False, causal=False)
    bare = bare_forward_s(args.model, task, args.n)
    wall = res["environment"]["wall_time_s"]
    result = {"model": args.model, "task": args.task, "n": args.n, "layers": res["model"]["n_layers"] + 1,
              "wall_s": wall, "phase_s": res["environment"]["phase_s"], "bare_forward_s": round(bare, 2),
              "wall_in_bare_forwards": round(wall / bare, 2), "threads": torch.get_num_threads(),
              "behavior": res["behavior"], "target_s": 600, "meets_target": wall <= 600}
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
