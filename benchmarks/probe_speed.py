"""Linear and causal probe speed: the batched path against the scikit-learn loop, same process, same activations.

    python benchmarks/probe_speed.py MODEL:TASK [MODEL:TASK ...] [--n 600] [--reference] [--no-causal]
    (e.g. demo-out/models/argmax-sl:argmax demo-out/models/gridworld-sl:gridworld smollm2:argmax)

Per run, one JSON line: seconds of the scikit-learn loop (joblib over the cores: the path before the batched
probes) and of the batched path, their ratio, the largest absolute difference in any row's score, control,
random_init and obs_baseline between them, and with `--reference` against scikit-learn solved to tol 1e-8 (the
converged answer both approximate). Causal probes: seconds per method of this tree's implementation; run the same
script in a checkout of an older commit for the old path's seconds (bars: issue "fast probes"). Timings are only
comparable within one machine and one run."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mesaprobe.schema import label_key


def differences(rows: list[dict], reference: list[dict]) -> dict[str, float]:
    fields = ("score", "control", "random_init", "obs_baseline")
    return {f: round(max(abs(a[f] - b[f]) for a, b in zip(rows, reference)), 4) for f in fields}


def converged_rows(data, task, folds: int) -> list[dict]:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import mesaprobe.probes.linear as linear
    from mesaprobe.probes.linear_suite import probe_target

    def make_probe(kind, sparse=False):
        model = LogisticRegression(C=10.0, max_iter=20000, tol=1e-8) if kind == "class" else Ridge(alpha=1.0)
        return model if sparse else make_pipeline(StandardScaler(), model)

    original, linear.make_probe = linear.make_probe, make_probe
    try:
        return [row for t in task.targets() for p in t.positions if label_key(t.name, p) in data.labels
                for row in probe_target(data, t.name, p, t.kind, t.token_bound, folds)]  # in this process
    finally:
        linear.make_probe = original


def bench(model: str, task_name: str, n: int, folds: int, reference: bool, causal: bool, device: str) -> dict:
    from mesaprobe.models.loading import load_model, random_twin
    from mesaprobe.models.subjects.subject import make_subject
    from mesaprobe.probes.causal import CausalContext, methods_for, skip_reason
    from mesaprobe.probes.options import ProbeOptions
    from mesaprobe.probes.linear_suite import probe_all, probe_all_sklearn
    from mesaprobe.probes.replicate import replicate
    from mesaprobe.tasks import get_task

    task = get_task(task_name)
    loaded = load_model(model, seed=1, device=device)
    subject = make_subject(loaded, task)
    with tempfile.TemporaryDirectory() as tmp:
        data, _ = replicate(subject, random_twin(loaded, seed=1000), n, 0, Path(tmp), False, loaded.n_layers - 1)
        start = time.perf_counter()
        old = probe_all_sklearn(data, task, folds)
        t_old = time.perf_counter() - start
        start = time.perf_counter()
        new = probe_all(data, task, folds, device=str(loaded.hf_model.device), backend="batched")
        t_new = time.perf_counter() - start
        out = {"model": model, "task": task_name, "n": n, "device": str(loaded.hf_model.device),
               "threads": torch.get_num_threads(), "rows": len(new),
               "linear_sklearn_s": round(t_old, 2), "linear_batched_s": round(t_new, 2),
               "linear_speedup": round(t_old / t_new, 2), "max_diff_batched_vs_sklearn": differences(new, old)}
        if reference:
            ref = converged_rows(data, task, folds)
            out |= {"max_diff_batched_vs_converged": differences(new, ref),
                    "max_diff_sklearn_vs_converged": differences(old, ref)}
        if causal:
            ctx = CausalContext(subject, task, data, folds, [layer for layer in data.subject.layers if layer >= 0],
                                False, ProbeOptions(steer=task.steer_mode))
            seconds, effects = {}, {}
            for method in methods_for(task.family):
                if skip_reason(method, subject) is not None:
                    continue
                name = method.name
                start = time.perf_counter()
                rows = method().run(ctx)
                seconds[name] = round(time.perf_counter() - start, 2)
                effects[name] = [round(r["effect"], 3) for r in rows][:12]
            out |= {"causal_s": seconds, "causal_effects_head": effects}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="MODEL:TASK")
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--reference", action="store_true", help="also fit converged scikit-learn probes (slow)")
    parser.add_argument("--no-causal", dest="causal", action="store_false")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="also append the JSON lines to this file")
    args = parser.parse_args()
    for run in args.runs:
        model, task = run.rsplit(":", 1)
        line = json.dumps(bench(model, task, args.n, args.folds, args.reference, args.causal, args.device))
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
