"""The mesaprobe command line. Thin: each command parses its options and calls one function; heavy imports
happen inside the commands so that `mesaprobe --help` stays fast."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from mesaprobe.cli_support import PARAM_HELP, TASK_HELP, behaviour_line, parse_floats, parse_ints, parse_params
from mesaprobe.cli_support import run as run_command
from mesaprobe.errors import UserError
from mesaprobe.sweeps.named import EXPERIMENTS  # light (no torch): `experiment --help` names its presets from it

app = typer.Typer(
    help="Probe transformers for search-in-map circuits versus cross-time goal optimization, "
    "with linear and causal probes beside their controls. Start with `mesaprobe tasks` or `mesaprobe demo --quick`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)

HEAVY = {"train", "probe", "sweep", "experiment", "demo"}  # commands that load torch and compute


def show_version(value: bool) -> None:
    if value:
        from mesaprobe import __version__

        typer.echo(f"mesaprobe {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=show_version, is_eager=True,
                                 help="Print the version and exit."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for torch and the probes' worker "
                                "processes. 0: one per core that other work leaves free, measured at the start and "
                                "every ~10 s of training (threads waiting on a busy core slow a run several times)."),
) -> None:
    """Global options, given before the command: `mesaprobe --threads 1 train argmax`."""
    from mesaprobe.runtime import exit_with_launcher, set_threads

    exit_with_launcher()  # a process of `train --processes N`: it ends with the command that launched it
    run_command(lambda: set_threads(threads, follow_free=ctx.invoked_subcommand in HEAVY))


@app.command()
def tasks(
    spec: Optional[str] = typer.Argument(None, help="Show only this task (a name or path/to/file.py:ClassName)."),
) -> None:
    """List the tasks (built in, and from `mesaprobe.tasks` entry points), their family (search / goal) and their
    parameters with defaults and ranges. Write your own: docs/adding-a-task.md."""
    from mesaprobe.api import tasks as run

    found = run_command(lambda: run(spec))
    for name, cls in sorted(found.items()):
        typer.echo(f"{name:12s} {cls.family:7s} {cls.summary}")
        for key, p in cls.PARAMS.items():
            typer.echo(f"{'':21s}{key}={p.default}  [{p.low}..{p.high}]  {p.help}")


@app.command()
def train(
    task: str = typer.Argument(..., help=TASK_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write (HF format)."),
    method: str = typer.Option("sl", "--method", "-m", help="sl: supervised (behaviour cloning; SFT with --base); "
                                                           "rl: PPO (GRPO with --base)."),
    seed: int = typer.Option(0, help="Seed for weights, data and training."),
    steps: Optional[int] = typer.Option(None, help="Training steps (default: per task)."),
    param: Optional[List[str]] = typer.Option(None, "--param", "-p", help=PARAM_HELP),
    base: Optional[str] = typer.Option(None, help="Fine-tune this pretrained model (dir, .gguf, smollm2, hub id) "
                                                   "with TRL instead of training a tiny one: SFT or GRPO."),
    lr: Optional[float] = typer.Option(None, help="Learning rate for --base fine-tuning (default: SFT 5e-5, GRPO "
                                                   "1e-4; warm-start GRPO from an SFT model, a high rate collapses)."),
    lora: Optional[int] = typer.Option(None, help="--base fine-tuning: train a LoRA adapter of rank R (peft) "
                                                   "instead of every weight; it is merged into the saved model."),
    layers: Optional[int] = typer.Option(None, help="Tiny model: number of blocks (default: per task)."),
    width: Optional[int] = typer.Option(None, help="Tiny model: d_model, a multiple of its 4 heads (default: per "
                                                   "task)."),
    window: Optional[int] = typer.Option(None, help="Tiny model: attention sees only the last WINDOW tokens, itself "
                                                    "included (Mistral blocks; default: every earlier token). "
                                                    "With enough blocks to cover the input, early tokens reach the "
                                                    "answer only through the tokens between."),
    pool: Optional[int] = typer.Option(None, help="Train on only this many distinct instances, over and over."),
    until_bar: bool = typer.Option(False, "--until-bar", help="Tiny model: stop at two validation checks in a row "
                                   "at the task's bar +0.01 (30 over --steps, fresh data each), --steps the most."),
    log_with: Optional[str] = typer.Option(None, "--log-with", help="Log the training curves to this tracker "
                                           "through accelerate (tensorboard, wandb, mlflow, trackio, ...; its "
                                           "package installed), into OUT/logs."),
    processes: int = typer.Option(1, help="Train as N processes (accelerate), each with 1/N of every batch."),
    overwrite: bool = typer.Option(False, help="Replace an existing --out that mesaprobe wrote as a model directory."),
) -> None:
    """Train a tiny model on TASK (or fine-tune --base) and save an HF model directory with training.json and card.
    PPO (--method rl) keeps its state beside --out as it goes: stopped, the same command resumes it."""
    from mesaprobe.api import train as train_model
    from mesaprobe.models.training.options import TrainOptions

    summary = run_command(lambda: train_model(task, out, parse_params(param), TrainOptions(
        method=method, seed=seed, steps=steps, base=base, lr=lr, lora=lora, layers=layers, width=width, window=window,
        pool=pool, until_bar=until_bar, log_with=log_with, processes=processes, overwrite=overwrite)))
    if summary is None:  # a process `accelerate launch` started beside the main one, which saves and reports
        return
    typer.echo(f"saved {out}: behaviour {behaviour_line(summary['behavior'])} ({summary['wall_time_s']} s)")


@app.command()
def probe(
    model: str = typer.Argument(..., help="Model directory, hub id, .gguf file, or `smollm2`."),
    task: str = typer.Argument(..., help=TASK_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (results.json and its data)."),
    n: Optional[int] = typer.Option(None, "--n", help="Examples per seed (default: 1000 for a tiny model; a "
                                                       "pretrained LM 100 on a CPU, 500 on a GPU)."),
    seeds: Optional[int] = typer.Option(None, "--data-seeds", "--seeds", help="Independent data seeds, indices get "
                                        "a bootstrap CI over them (default: 3; a pretrained LM on a CPU 1). "
                                        "--seeds: the same (data seeds wherever the word appears)."),
    folds: int = typer.Option(5, help="Cross-validation folds for every probe."),
    seed: int = typer.Option(0, help="First seed."),
    random_init: bool = typer.Option(False, "--random-init", help="Probe the model's random-init twin instead."),
    causal: bool = typer.Option(True, "--causal/--no-causal", help="Run LEACE, interchange, patching, steering."),
    dtype: str = typer.Option("float32", help="Weights dtype: float32, bfloat16 or float16."),
    max_layer: Optional[int] = typer.Option(None, help="Probe blocks 0..MAX_LAYER only (the forward pass stops there); "
                                                       "0 <= MAX_LAYER < the model's blocks."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow a hub model's own code to run."),
    param: Optional[List[str]] = typer.Option(None, "--param", "-p", help=PARAM_HELP),
    steer: Optional[str] = typer.Option(None, help="Goal tasks: steer every decision from the first on "
                                                    "(persistent), the first decision only (first), or every "
                                                    "decision and every prompt token, each token index with its own "
                                                    "goal mean difference (context: for goals computed from the "
                                                    "prompt). Default: the task's (goal-sum: context; others: "
                                                    "persistent)."),
    alphas: str = typer.Option("1,2,4,8", help="Steering strengths tried on validation data, the best reported on "
                                               "held-out data: multiples of the goal-B minus goal-A direction (goal "
                                               "tasks) or of the rule-B minus rule-A mean (retarget, search tasks "
                                               "that mix rules)."),
    device: str = typer.Option("auto", help="Where the model runs and the probes are fitted: auto (CUDA when "
                                            "present), cpu, cuda or cuda:N."),
    linear_backend: str = typer.Option("sklearn", help="How linear probes are fitted: sklearn (a loop over the "
                                                       "cores; faster on CPU, benchmarks/probe_speed.json) or batched "
                                                       "(tensor ops, all layers at once, on --device; closer to the "
                                                       "optimum)."),
    device_map: Optional[str] = typer.Option(None, help="auto: spread a model larger than one GPU over all of them "
                                                        "(accelerate's big-model placement; on a machine without "
                                                        "GPUs, all on the CPU). The memory check says when a model "
                                                        "needs it."),
    causal_layers: Optional[str] = typer.Option(None, help="Run the causal probes at these blocks, e.g. 0,10,20,29 "
                                                           "(default: every probed block of a tiny model; of a "
                                                           "pretrained LM, where each block costs several forwards "
                                                           "per example, 2 evenly spaced ones ending at the last on a "
                                                           "CPU, 4 on a GPU)."),
    also_methods: Optional[str] = typer.Option(None, help="Opt-in causal methods to run too, comma-separated: das "
                                                          "(distributed alignment search: learns the subspace whose "
                                                          "interchange follows the task's causal model; a fit per "
                                                          "target and block, so slow)."),
    steer_episodes: int = typer.Option(200, help="Goal tasks: held-out layouts steering reports on (half as many "
                                                 "more choose alpha)."),
    log_with: Optional[str] = typer.Option(None, "--log-with", help="Log behaviour and every index with its parts "
                                           "to this tracker through accelerate (tensorboard, wandb, ...), into "
                                           "OUT/logs."),
    overwrite: bool = typer.Option(False, help="Replace an existing --out that mesaprobe wrote as a run directory."),
    yes: bool = typer.Option(False, "--yes", help="Run even when a pretrained LM's estimate (said after its first "
                                                  "batch) passes 30 minutes."),
) -> None:
    """Behaviour, activations, linear probes (beside control task, random-init and observation baselines), causal
    probes, the search and goal indices with bootstrap CIs over seeds, and the verdict -> OUT/results.json."""
    from mesaprobe.api import probe as run_probe
    from mesaprobe.probes.options import ProbeOptions

    results = run_command(lambda: run_probe(model, task, out, parse_params(param), ProbeOptions(
        n=n, seeds=seeds, folds=folds, seed=seed, random_init=random_init, causal=causal, dtype=dtype,
        max_layer=max_layer, trust_remote_code=trust_remote_code, steer=steer, alphas=parse_floats(alphas, "--alphas"),
        steer_episodes=steer_episodes, device=device, linear_backend=linear_backend,
        causal_layers=parse_ints(causal_layers, "--causal-layers"), device_map=device_map,
        also_methods=tuple(also_methods.split(",")) if also_methods else (), log_with=log_with, overwrite=overwrite,
        yes=yes)))
    if results is None:  # a process `accelerate launch` started beside the main one, which writes and reports
        return
    from mesaprobe.cli_support import print_indices
    from mesaprobe.schema import index_words

    print_indices(results)
    counted = [f"{family} index {index_words(entry)}" + (f" ({entry['route']} route)" if entry.get("route") else "")
               for family, entry in results["indices"].items() if entry.get("value") is not None]
    typer.echo(f"wrote {out / 'results.json'}: behaviour {behaviour_line(results['behavior'])}; "
               f"verdict: {results['verdict']}" + (f", {'; '.join(counted)}" if counted else "")
               + f"; the page: mesaprobe report {out} --out report.html")


RESUME = "interrupted: the finished cells are kept in --out; run the same command again to resume"


def _sweep_done(rows: list[dict], out: Path) -> None:
    typer.echo(f"wrote {out / 'sweep.csv'} ({len(rows)} cells) and {out / 'sweep.html'}")


@app.command()
def sweep(
    task: Optional[str] = typer.Argument(None, help="Task name (or give it in --config)."),
    out: Path = typer.Option(..., "--out", "-o", help="Sweep directory: cells/, sweep.csv, sweep.json, sweep.html. "
                                                      "Re-running on it skips the finished cells."),
    vary: Optional[List[str]] = typer.Option(None, help="KNOB=V1,V2,... (repeatable): a task parameter (see "
                                                        "`mesaprobe tasks`) or method, layers, width, pool, steps."),
    config: Optional[Path] = typer.Option(None, help="A YAML file with task, vary, fixed, methods, seeds, n, "
                                                     "data_seeds; command-line options add to it."),
    param: Optional[List[str]] = typer.Option(None, "--param", "-p", help="A task parameter held fixed, KEY=VALUE."),
    methods: str = typer.Option("sl", help="Training methods, comma-separated (sl, rl)."),
    seeds: int = typer.Option(1, "--training-seeds", help="Training seeds per cell (a row each; the report's CIs "
                                                          "are over them)."),
    steps: int = typer.Option(0, help="Training steps in every cell (0: the task's default)."),
    until_bar: bool = typer.Option(False, "--until-bar", help="Every cell trains until two validation checks in a "
                                                              "row reach its behaviour bar, --steps at most."),
    n: int = typer.Option(600, "--n", help="Probe examples per data seed."),
    data_seeds: int = typer.Option(2, help="Probe data seeds per cell (each index's own CI)."),
    causal: bool = typer.Option(True, "--causal/--no-causal", help="Run the causal probes in every cell."),
    workers: int = typer.Option(0, help="Local processes (0: one per core, at most one per cell)."),
    ray: Optional[str] = typer.Option(None, help="Run the cells as Ray tasks at this cluster address (`local` starts "
                                                 "Ray here; on a cluster --out must be on a filesystem all share)."),
    log_with: Optional[str] = typer.Option(None, "--log-with", help="Every cell logs its training curves and probe "
                                           "results to this tracker through accelerate (tensorboard, wandb, ...)."),
) -> None:
    """Train and probe every cell of a grid over task parameters, model size, method, training pool and seeds;
    write sweep.csv (a row per cell and seed: behaviour, indices with CIs, verdict, wall times), sweep.json and an
    HTML report of each index against each swept knob. Example: mesaprobe sweep argmax --vary K=3,6,10 --seeds 2
    --out sweeps/k."""
    from mesaprobe.api import sweep as run

    def go():
        from mesaprobe.sweeps.grid import load_spec_file, parse_vary

        spec = load_spec_file(config) if config else {}
        if not (task or spec.get("task")):
            raise UserError("name a TASK (or give `task:` in --config)")
        spec = spec | {"task": task or spec["task"], "vary": spec.get("vary", {}) | parse_vary(vary or []),
                       "fixed": spec.get("fixed", {}) | parse_params(param)}
        defaults = {"methods": tuple(methods.split(",")), "seeds": seeds, "n": n, "data_seeds": data_seeds,
                    "causal": causal, "steps": steps, "until_bar": until_bar}
        return run(out=out, **(defaults | spec), workers=workers, ray=ray, log_with=log_with)

    _sweep_done(run_command(go, RESUME), out)


@app.command()
def experiment(
    name: str = typer.Argument(..., help=", ".join(EXPERIMENTS) + " (see below)."),
    out: Path = typer.Option(..., "--out", "-o", help="Sweep directory (resumable, as for `sweep`)."),
    size: Optional[str] = typer.Option(None, "--size", help="quick: a smoke run for a CPU (at most 15 minutes, 2 "
                                       "training seeds); standard: 3 training x 3 data seeds, every cell at its "
                                       "behaviour bar, the size docs/findings.md states (an hour or two on 2 cores); "
                                       "full (the default): for a GPU machine."),
    quick: bool = typer.Option(False, help="The same as --size quick."),
    standard: bool = typer.Option(False, help="The same as --size standard."),
    workers: int = typer.Option(0, help="Local processes (0: one per core)."),
    ray: Optional[str] = typer.Option(None, help="Run the cells on a Ray cluster at this address (or `local`)."),
    log_with: Optional[str] = typer.Option(None, "--log-with", help="Every cell logs its training curves and probe "
                                           "results to this tracker through accelerate (tensorboard, wandb, ...)."),
) -> None:
    """A named experiment: a preset sweep that tests one argument about mesa-optimization.

    candidates: does search hold as the number of candidates grows? compute: under a depth budget? shortcut: does
    it give way when the answer is often in one place? diversity: with more distinct training instances? rulesets:
    does one search (one readout) serve many rules, and a rule left out? meta-learning: do in-context learners at
    each depth track the hypotheses still consistent with the examples? rl-vs-sl: does goal pursuit come from RL?
    Each prints its claim."""
    from mesaprobe.api import experiment as run
    from mesaprobe.sweeps.named import get_experiment, size_of

    claim = run_command(lambda: get_experiment(name).claim)
    typer.echo(f"{name}: {claim}")
    size = run_command(lambda: size_of(quick, standard, size))
    _sweep_done(run_command(lambda: run(name, out, size=size, workers=workers, ray=ray, log_with=log_with), RESUME),
                out)


@app.command()
def report(
    runs: List[Path] = typer.Argument(..., help="One run directory, or several to compare side by side (SL vs RL)."),
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write (works offline: plotly.min.js is written "
                                                      "beside it once, shared by every report in that folder)."),
) -> None:
    """An HTML report: the verdicts and the figure they rest on first, then a table of contents, behaviour, probe
    curves, heatmaps and causal evidence."""
    from mesaprobe.api import report as run

    path = run_command(lambda: run(runs, out))
    typer.echo(f"wrote {path}")


@app.command()
def export(
    runs: List[Path] = typer.Argument(..., help="Run directories (each with a results.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="runs.parquet or runs.csv: one row per run (verdict, "
                                                      "behaviour, indices with CIs); the probe and causal rows go "
                                                      "beside it as runs.probes.parquet and runs.causal.parquet."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing exported tables."),
) -> None:
    """Tables of one or more runs for pandas, R or a spreadsheet: the same as the API's runs_frame and
    results_frame."""
    from mesaprobe.api import export as run

    paths = run_command(lambda: run(runs, out, overwrite))
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


@app.command()
def card(
    model: Path = typer.Argument(..., help="A model directory (trained here or any HF directory)."),
    results: Optional[List[Path]] = typer.Option(None, "--results", "-r", help="Run directories to report on."),
    push: Optional[str] = typer.Option(None, "--push", help="Upload the model and card to this Hub repo id first; "
                                                            "the card is written only if that succeeds."),
    replace_readme: bool = typer.Option(False, "--replace-readme", help="Replace a README.md mesaprobe did not "
                                                                        "write (by default it is kept)."),
    push_timeout: float = typer.Option(120.0, help="Seconds to wait for the Hub before giving up on --push."),
    license: Optional[str] = typer.Option(None, "--license", help="The card's license (e.g. apache-2.0, or a "
                                                                  "fine-tune's base model's); none is assumed."),
) -> None:
    """Write the model's README.md card (Hugging Face ModelCard); push it only when --push is given."""
    from mesaprobe.api import card as run

    path = run_command(lambda: run(model, results or [], push, replace_readme, push_timeout, license))
    typer.echo(f"wrote {path}" + (f" and pushed to {push}" if push else ""))


@app.command()
def clean(
    directory: Path = typer.Argument(Path("."), help="Where the killed runs wrote (the parent of their --out)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="List what would be removed; remove nothing."),
) -> None:
    """Remove what killed runs left behind: hidden `.NAME.<pid>.<tag>.partial` directories that hold mesaprobe's
    claim file and whose process is gone, and stale `.NAME.lock` files mesaprobe wrote. A run still in progress,
    another host's work and anything else in DIRECTORY are left alone. (The next run on the same --out removes its
    own leftovers too.)"""
    from mesaprobe.api import clean as clean_dir

    gone = run_command(lambda: clean_dir(directory, dry_run))
    verb = "would remove" if dry_run else "removed"
    typer.echo("\n".join(f"{verb} {p}" for p in gone) if gone else "nothing to clean")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Where models, runs and the report go."),
    quick: bool = typer.Option(False, help="Fewer steps and examples: a smoke run of the whole story."),
) -> None:
    """The whole story in about 5 minutes: train and probe the search known positive (argmax, closest to a target)
    beside its random-init twin, probe the goal known positive (goal-sum) and a latent-goal SL/RL pair (rock-field,
    4x4, 2 rocks), then write reports, cards and every verdict beside the expected one. Its numbers are a
    demonstration (one model a side, fewer examples), not the findings of docs/findings.md."""
    from mesaprobe.api import demo as run

    run_command(lambda: run(out, quick=quick))


if __name__ == "__main__":
    app()
