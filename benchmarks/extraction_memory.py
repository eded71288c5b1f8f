"""Peak memory of activation extraction at n and 10n examples (issue: spine). Each size runs in a fresh process and
reports its peak resident set (ru_maxrss), so the ratio compares like with like on the same machine in one run.
Target: the 10x run's peak is < 1.20x the baseline's (memory bounded by the batch, not the dataset).

    python benchmarks/extraction_memory.py [--n 2000] [--out benchmarks/extraction_memory.json]"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import resource, sys, tempfile, time, torch
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer, encode_tokens
from mesaprobe.models.loading import LoadedModel
from mesaprobe.probes.extract import extract_activations
from mesaprobe.tasks import get_task
n = int(sys.argv[1])
task = get_task("argmax")
tok = build_tokenizer(task.vocabulary())
model = build_tiny_model(tok, TinySize(4, 256, 4), seed=0).eval()
with tempfile.TemporaryDirectory() as d:
    model.save_pretrained(d); tok.save_pretrained(d)
    from transformers import AutoTokenizer
    bridge = LoadedModel(model, AutoTokenizer.from_pretrained(d), d, "random-init", path=__import__("pathlib").Path(d)).bridge
    rng = torch.Generator().manual_seed(0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for chunk in range(0, n, 5000):  # instances are drawn in chunks too: only activations are measured here
        insts = task.instances(min(5000, n - chunk), seed=chunk)
        ids = encode_tokens(tok, [i.tokens for i in insts])
        pos = {p: torch.tensor([i.positions[p] for i in insts]) for p in insts[0].positions}
        extract_activations(bridge, ids, pos, f"{d}/acts{chunk}", layers=[-1, 0, 1, 2, 3], progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, before, time.perf_counter() - start)
"""


def peak_kib(n: int) -> tuple[int, int, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True, check=True)
    peak, before, wall = out.stdout.split()
    return int(peak), int(before), float(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--out", default="benchmarks/extraction_memory.json")
    args = parser.parse_args()
    small, large = peak_kib(args.n), peak_kib(10 * args.n)
    result = {"n": args.n, "peak_kib": small[0], "peak_kib_10x": large[0], "ratio": large[0] / small[0],
              "extraction_growth_kib": small[0] - small[1], "extraction_growth_kib_10x": large[0] - large[1],
              "wall_s": small[2], "wall_s_10x": large[2], "target_ratio": 1.20}
    result["meets_target"] = result["ratio"] < 1.20
    print(json.dumps(result, indent=2))
    from mesaprobe.fsutil import atomic_write_json

    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
