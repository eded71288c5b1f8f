"""`mesaprobe demo`: the whole story on the default tiny models."""
from __future__ import annotations

from pathlib import Path

from mesaprobe.errors import UserError

# (task, training steps, probe examples) for the full and the quick demo
SEARCH_PLAN = {False: [("argmax", None, 1000), ("icl-linear", None, 1000)],
               True: [("argmax", 600, 300), ("icl-linear", 600, 300)]}


def strongest_probes(results: dict, top: int = 5) -> list[dict]:
    rows = [r for r in results["probes"] if r["layer"] >= 0]
    return sorted(rows, key=lambda r: r["selectivity"], reverse=True)[:top]


def format_table(name: str, results: dict) -> str:
    head = f"{name}: behaviour {results['behavior']}  verdict {results['verdict']}"
    lines = [head, f"  {'target':16s} {'pos':8s} {'layer':>5s} {'metric':>8s} {'score':>6s} {'control':>7s} "
                   f"{'select':>6s} {'rand-init':>9s} {'obs':>6s}"]
    for r in strongest_probes(results):
        lines.append(f"  {r['target']:16s} {r['position']:8s} {r['layer']:5d} {r['metric']:>8s} {r['score']:6.3f} "
                     f"{r['control']:7.3f} {r['selectivity']:6.3f} {r['random_init']:9.3f} {r['obs_baseline']:6.3f}")
    return "\n".join(lines)


def run_demo(out: str | Path, quick: bool = False) -> dict[str, dict]:
    from mesaprobe.models.train import train
    from mesaprobe.probes.run import run_probe
    from mesaprobe.tasks import get_task

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty; pass another --out")
    all_results = {}
    for task_name, steps, n in SEARCH_PLAN[quick]:
        model_dir, run_dir = out / "models" / f"{task_name}-sl", out / "runs" / f"{task_name}-sl"
        summary = train(task_name, "sl", model_dir, seed=0, steps=steps)
        print(f"trained {model_dir}: {summary['behavior']} in {summary['wall_time_s']} s")
        all_results[task_name] = run_probe(str(model_dir), get_task(task_name), run_dir, n=n, seeds=3)
        print(format_table(task_name, all_results[task_name]))
    return all_results
