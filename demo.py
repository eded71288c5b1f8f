"""`mesaprobe demo`: the whole story on the default tiny models, in about 5 minutes on 2 CPU cores. Train a search
model (argmax under "closest to a target", whose candidates' scores are in no single token: the search known
positive) and the gridworld pair (SL and RL, same architecture and episode budget; the goal is in the prompt, so the
instrument must say `neither` there), probe each (linear + causal, 2 data seeds), then write one report per run, the
SL-vs-RL comparison, and a model card per model."""
from __future__ import annotations

from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.probes.indices import beyond_controls

CLOSEST = {"rule": 3}  # argmax: the number closest to a target given first
# (task, task parameters, method, training steps, probe rows per seed); None = the task's default steps
PLAN = {
    False: [("argmax", CLOSEST, "sl", None, 600), ("gridworld", {}, "sl", None, 600),
            ("gridworld", {}, "rl", None, 600)],
    True: [("argmax", CLOSEST, "sl", 600, 200), ("gridworld", {}, "sl", 300, 200), ("gridworld", {}, "rl", 24, 200)],
}


def format_table(name: str, results: dict, top: int = 5) -> str:
    rows = sorted((r for r in results["probes"] if r["layer"] >= 0), key=lambda r: -beyond_controls(r))[:top]
    lines = [f"{name}: behaviour {results['behavior']}", f"  verdict: {results['verdict']}",
             f"  {'target':14s} {'pos':9s} {'layer':>5s} {'metric':>8s} {'score':>6s} {'control':>7s} "
             f"{'rand-init':>9s} {'obs':>6s} {'margin':>6s}"]
    for r in rows:
        lines.append(f"  {r['target']:14s} {r['position']:9s} {r['layer']:5d} {r['metric']:>8s} {r['score']:6.3f} "
                     f"{r['control']:7.3f} {r['random_init']:9.3f} {r['obs_baseline']:6.3f} {beyond_controls(r):6.3f}")
    return "\n".join(lines)


def run_demo(out: str | Path, quick: bool = False) -> dict[str, dict]:
    from mesaprobe.api import probe, train
    from mesaprobe.reports.card import card_command
    from mesaprobe.reports.html import write_report

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty; pass another --out")
    all_results, runs = {}, {}
    for task_name, params, method, steps, n in PLAN[quick]:
        name = f"{task_name}{'-closest' if params == CLOSEST else ''}-{method}"
        model_dir, run_dir = out / "models" / name, out / "runs" / name
        summary = train(task_name, model_dir, params=params, method=method, seed=0, steps=steps)
        print(f"trained {model_dir}: {summary['behavior']} in {summary['wall_time_s']} s", flush=True)
        all_results[name] = probe(model_dir, task_name, run_dir, params=params, n=n, seeds=2)
        runs[name] = run_dir
        card_command(model_dir, [run_dir])
        write_report([run_dir], out / "reports" / f"{name}.html")
        print(format_table(name, all_results[name]), flush=True)
    comparison = write_report([runs["gridworld-sl"], runs["gridworld-rl"]], out / "reports" / "gridworld-sl-vs-rl.html")
    print(f"\nreports: {out / 'reports'} (SL vs RL: {comparison})\nmodel cards: {out / 'models'}/*/README.md")
    return all_results
