"""`mesaprobe demo`: the whole story on the default tiny models, in about 5 minutes on 2 CPU cores. Train a search
model (argmax under "closest to a target", whose candidates' scores are in no single token: the search known
positive) and probe it beside its random-init twin; probe the goal known positive (goal-sum, its goal only in sums
mod N); probe a matched SL/RL pair on a latent-goal task (rock-field on a 4x4 grid with 2 rocks: which rock is the
goal is in no token), then write one report per run, the SL-vs-RL comparison, a model card per trained model, and a
table of every verdict beside the one a trustworthy instrument must give (the pair's verdicts are findings: no
answer is known there). The goal-sum model and the pair are the committed models of a clone's tests/fixtures:
training them takes ~9 and ~25 minutes here, past a demo's budget."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from mesaprobe.cli_support import behaviour_line
from mesaprobe.errors import UserError
from mesaprobe.probes.indices import beyond_controls

CLOSEST = {"rule": 3}  # argmax: the number closest to a target given first
FIXTURES = Path(__file__).parent / "tests" / "fixtures"
GOAL_SUM = FIXTURES / "goal-sum-sl-0"  # `mesaprobe train goal-sum --seed 0`
# rock-field's pair: PPO for 100 iterations of 1024 episodes, behaviour cloning on as many distinct layouts
# (`mesaprobe train rock-field -p N=4 -p K=2 --method rl --steps 100`, `... --steps 3000 --pool 102400`; the PPO
# model with iterations of 1024 episodes and minibatches of 256, the defaults then: its training.json)
SMALL_FIELD = {"N": 4, "K": 2}
DEMONSTRATION = ("\nThese numbers demonstrate the tool; they are not its findings. Each model is one training seed, "
                 "probed on fewer examples and data seeds than the findings page (docs/findings.md: 3 training seeds "
                 "a side, 1000 examples x 3 data seeds, --standard sweeps), and the SL-vs-RL report compares one model "
                 "a side, so its differences say nothing about the methods. The known answers (the expected verdicts "
                 "above) are what a demo can check.")
FINDING = "a finding (no known answer)"


@dataclass(frozen=True)
class Step:
    """One model of the demo: trained here (`method`), the random-init twin of an earlier step (`twin_of`), or a
    committed model (`model`); probed with `probe` options; `expected` is the verdict it must get (or FINDING)."""
    name: str
    task: str
    expected: str
    params: dict = field(default_factory=dict)
    method: str | None = None
    steps: int | None = None  # training steps; None = the task's default
    twin_of: str | None = None
    model: Path | None = None
    probe: dict = field(default_factory=dict)


def plan(quick: bool) -> list[Step]:
    """Sized to fit ~5 minutes: the twin (a control) on one data seed; the pair on 2 data seeds (the side-by-side
    report's CIs), 3 folds, causal probes at block 1."""
    n = {"n": 200 if quick else 600, "seeds": 2}
    pair = {"n": 300 if quick else 600, "seeds": 2, "folds": 3, "causal_layers": (1,)}
    return [
        Step("argmax-closest-sl", "argmax", "search-in-map", CLOSEST, "sl", 600 if quick else None, probe=n),
        Step("argmax-closest-random-init", "argmax", "neither", CLOSEST, twin_of="argmax-closest-sl",
             probe=n | {"seeds": 1}),
        Step("goal-sum-sl", "goal-sum", "goal-across-time", model=GOAL_SUM,
             probe={"n": 1000, "seeds": 1, "folds": 3, "causal_layers": (2,)}),  # at n=400 it said `neither`
        Step("rock-field-sl", "rock-field", FINDING, SMALL_FIELD, model=FIXTURES / "rock-field-4x4-sl-0", probe=pair),
        Step("rock-field-rl", "rock-field", FINDING, SMALL_FIELD, model=FIXTURES / "rock-field-4x4-rl-0", probe=pair),
    ]


def format_table(name: str, results: dict, top: int = 5) -> str:
    rows = sorted((r for r in results["probes"] if r["layer"] >= 0), key=lambda r: -beyond_controls(r))[:top]
    lines = [f"{name}: behaviour {behaviour_line(results['behavior'])}", f"  verdict: {results['verdict']}",
             f"  {'target':14s} {'pos':9s} {'layer':>5s} {'metric':>8s} {'score':>6s} {'control':>7s} "
             f"{'rand-init':>9s} {'obs':>6s} {'decodable':>9s}"]
    for r in rows:
        lines.append(f"  {r['target']:14s} {r['position']:9s} {r['layer']:5d} {r['metric']:>8s} {r['score']:6.3f} "
                     f"{r['control']:7.3f} {r['random_init']:9.3f} {r['obs_baseline']:6.3f} {beyond_controls(r):9.3f}")
    return "\n".join(lines)


def run_step(step: Step, out: Path, models: dict[str, Path], train, probe) -> dict:
    """One step with the API's `train` and `probe` (passed in: api.demo calls this module, which must not import
    api back)."""
    from mesaprobe.reports.card import card_command

    run_dir = out / "runs" / step.name
    if step.method:
        model_dir = models[step.name] = out / "models" / step.name
        summary = train(step.task, model_dir, params=step.params, method=step.method, seed=0, steps=step.steps)
        print(f"trained {model_dir}: behaviour {behaviour_line(summary['behavior'])} ({summary['wall_time_s']} s)",
              flush=True)
    elif step.twin_of:
        model_dir = models[step.twin_of]
        print(f"probing the random-init twin of {step.twin_of} (same architecture, untrained weights)", flush=True)
    else:
        model_dir = step.model
        print(f"probing the committed {step.name} model ({model_dir})", flush=True)
    results = probe(model_dir, step.task, run_dir, params=step.params, random_init=bool(step.twin_of), **step.probe)
    if step.method:
        card_command(model_dir, [run_dir])
    return results


def run_demo(out: str | Path, train, probe, quick: bool = False) -> dict[str, dict]:
    """Every step of `plan` with the API's `train` and `probe`; reports, cards and the verdict table."""
    from mesaprobe.reports.html import write_report

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} already exists and is not empty; pass another --out")
    all_results, models, verdicts = {}, {}, []
    for step in plan(quick):
        if step.model is not None and not step.model.is_dir():
            verdicts.append((step.name, "skipped: its committed model is in a clone's tests/fixtures", step.expected))
            continue
        start = time.perf_counter()
        all_results[step.name] = results = run_step(step, out, models, train, probe)
        write_report([out / "runs" / step.name], out / "reports" / f"{step.name}.html")
        print(format_table(step.name, results), flush=True)
        verdicts.append((step.name, f"{results['verdict']} ({time.perf_counter() - start:.0f} s)", step.expected))
    pair = [out / "runs" / name for name in ("rock-field-sl", "rock-field-rl") if name in all_results]
    comparison = write_report(pair, out / "reports" / "rock-field-sl-vs-rl.html") if len(pair) == 2 else None
    print("\nverdicts (and the one a trustworthy instrument must give):")
    for name, got, expected in verdicts:
        print(f"  {name:28s} {got:32s} {expected if expected == FINDING else 'expected ' + expected}")
    print(f"\nreports: {out / 'reports'} (SL vs RL: {comparison})\nmodel cards: {out / 'models'}/*/README.md")
    print(DEMONSTRATION)
    return all_results
