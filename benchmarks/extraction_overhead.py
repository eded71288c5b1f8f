"""Extraction cost against a bare HF forward pass over the same batches (issue: pretrained LMs).
Target: mesaprobe's extraction (TransformerBridge hooks at every layer, gather at the probed positions, write
safetensors shards) takes <= 1.10x the time of `model(ids)` on the same batches. Both compute the unembedding at
the last position only (`logits_to_keep=1`, as extraction does), so the ratio is the cost of the hooks alone. Both
are timed in this process, interleaved, best of several repeats, so machine noise hits both alike.

    python benchmarks/extraction_overhead.py [--model smollm2|DIR] [--n 128] [--out benchmarks/extraction_overhead.json]"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from mesaprobe.fsutil import atomic_write_json
from mesaprobe.models.loading import load_model
from mesaprobe.probes.extract import extract_activations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/extraction_overhead.json")
    args = parser.parse_args()
    m = load_model(args.model)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, len(m.tokenizer) - 10, (args.n, args.seq), generator=g)
    positions = {"last": torch.full((args.n,), args.seq - 1), "mid": torch.full((args.n,), args.seq // 2)}
    layers = [-1, *range(m.n_layers)]
    bridge = m.bridge

    @torch.no_grad()
    def bare():
        for i in range(0, args.n, args.batch):
            m.hf_model(ids[i : i + args.batch], use_cache=False, logits_to_keep=1)  # as extraction runs it

    def ours():
        with tempfile.TemporaryDirectory() as d:
            extract_activations(bridge, ids, positions, d, layers, tokens_per_batch=args.batch * args.seq,
                                progress=False)

    times = {"bare": [], "extract": []}
    bare()  # warm-up
    for _ in range(args.repeats):
        for name, fn in (("bare", bare), ("extract", ours)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    result = {"model": args.model, "n": args.n, "seq": args.seq, "batch": args.batch, "layers": len(layers),
              "bare_s": min(times["bare"]), "extract_s": min(times["extract"]), "all": times,
              "threads": torch.get_num_threads()}
    result["ratio"] = result["extract_s"] / result["bare_s"]
    result["meets_target"] = result["ratio"] <= 1.10
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
