"""Hugging Face model cards (README.md) through huggingface_hub's ModelCard and ModelCardData: YAML metadata with a
model-index of the probe and causal results, and sections for training, behaviour, findings and how to reproduce."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.fsutil import MARKER, atomic_write_text, record_written
from mesaprobe.fsutil.atomic import changed_since_written, read_json_object
from mesaprobe.probes.causal import evidence_methods
from mesaprobe.probes.indices import beyond_controls
from mesaprobe.probes.resummarize import under_current_rule
from mesaprobe.schema import behaviour_words, load_results

CARD_TAG = "mesaprobe"  # every card mesaprobe writes carries this tag; a README.md without it is the user's

CAVEATS = ("Probes show what is linearly decodable, not what is used; the verdict needs a causal effect on the "
           "family's own variables (never the answer alone) beyond a random-subspace or random-direction control "
           "(docs/design.md in the mesaprobe repository). Indices carry bootstrap CIs over only the seeds run; tiny "
           "models on synthetic tasks say little about large pretrained models.")


def _read(path: Path) -> dict:
    return read_json_object(path)


def _param_flags(task: dict) -> str:
    """`-p KEY=VALUE` for the parameters `train` accepts (a task may resolve internal ones, e.g. goal-sum's walls)."""
    from mesaprobe.tasks import task_class

    try:
        accepted = set(task_class(task.get("spec", task.get("name", ""))).PARAMS)
    except UserError:  # a plugin task file that is not here: say every parameter
        accepted = set(task.get("params", {}))
    return " ".join(f"-p {k}={v}" for k, v in task.get("params", {}).items() if k in accepted)


def eval_results(model_name: str, results: list[dict]):
    from huggingface_hub import EvalResult

    out = []
    for res in results:
        task = res["task"]["name"]
        # the instances are drawn by the task's code from its seed, not a Hub dataset: no dataset id is claimed
        common = dict(task_type="interpretability-probing", task_name=f"mesaprobe {task}", dataset_type="synthetic",
                      dataset_name=f"{task} instances drawn by mesaprobe", dataset_config=json.dumps(res["task"]["params"]))
        for key, value in res["behavior"].items():
            if isinstance(value, float):
                out.append(EvalResult(metric_type=f"behavior/{key}", metric_value=round(value, 4), **common))
        for family, entry in res["indices"].items():
            if entry.get("value") is not None:
                out.append(EvalResult(metric_type=f"index/{family}", metric_value=round(entry["value"], 4),
                                      metric_name=f"{family} index (95% CI {entry['ci'][0]:.3f}..{entry['ci'][1]:.3f})",
                                      **common))
        breadth = (res["indices"].get("search") or {}).get("breadth")
        if breadth:
            out.append(EvalResult(metric_type="search/breadth", metric_value=round(breadth["value"], 4),
                                  metric_name=f"search breadth: share of the {breadth['k']} candidates ordered "
                                              f"correctly (random-init twin {breadth['random_init']:.3f})", **common))
        for r in sorted(res["probes"], key=lambda r: -beyond_controls(r))[:3]:
            out.append(EvalResult(metric_type=f"probe/{r['target']}@{r['position']}/L{r['layer']}",
                                  metric_value=round(r["score"], 4), **common))
        for method in evidence_methods(res["task"]["family"]):  # each method's three strongest effects
            rows = [c for c in res.get("causal", []) if c["method"] == method]
            for r in sorted(rows, key=lambda c: c["control_effect"] - c["effect"])[:3]:
                out.append(EvalResult(metric_type=f"{r['method']}/{r['target']}@{r['position']}/L{r['layer']}",
                                      metric_value=round(r["effect"], 4), **common))
    seen, once = set(), []
    for result in out:  # each metric once per task (two runs of one task: the first named)
        key = (result.task_name, result.dataset_config, result.metric_type)
        if key not in seen:
            seen.add(key)
            once.append(result)
    return once


def findings(res: dict, run: str) -> list[str]:
    from mesaprobe.reports.html import evidence_sentence, readout_sentence

    from mesaprobe.reports.attention import attention_words

    readout = [f"- {sentence}"] if (sentence := readout_sentence(res)) else []
    attention = [f"- {words}"] if (words := attention_words("attention", res)) else []
    lines = [f"### `{res['task']['name']}` (run `{run}`)", "", f"- verdict: **{res['verdict']}**",
            f"- {evidence_sentence(res)}", *attention, *readout, f"- behaviour: {behaviour_words(res['behavior'])}",
            f"- reproduce: `mesaprobe probe {res['model']['source']} {res['task']['name']} {_param_flags(res['task'])} "
            f"--out {run} "
            f"--n {res['task']['n_examples']} --seeds {res['task'].get('seeds', 3)} --seed {res['task']['seed']}`", ""]
    return [html.escape(line, quote=False) for line in lines]  # text from a results file is no markup on the Hub


def how_to_use(name: str, task: dict) -> list[str]:
    spec = task.get("spec", task.get("name", "TASK"))
    return ["## How to use", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
            f'model = AutoModelForCausalLM.from_pretrained("{name}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{name}")', "```", "",
            "Probe it with mesaprobe (`pip install mesaprobe`; the task and its parameters are read from the model's "
            "own record):", "", "```bash", f"mesaprobe probe {name} {spec} --out runs/{name}",
            f"mesaprobe report runs/{name} --out {name}.html", "```", ""]


def train_command(name: str, task: dict, training: dict, method: str) -> str:
    """The `mesaprobe train` line that remakes this model: every parameter, size, pool, window and the seed."""
    flags = [_param_flags(task)]
    size = training.get("size") or {}
    if size:  # tiny models: the size it was trained at, whatever the task's default is now
        flags.append(f"--layers {size['n_layer']} --width {size['n_embd']}")
        if size.get("window"):
            flags.append(f"--window {size['window']}")
    if training.get("pool"):
        flags.append(f"--pool {training['pool']}")
    if training.get("base"):
        flags.append(f"--base {training['base']}")
    if "until_bar" in training:  # the steps it took were the bar's, the most it could take the task's default
        flags.append("--until-bar")
    else:
        flags.append(f"--steps {training.get('steps')}")
    line = f"mesaprobe train {task.get('name')} --method {method} --seed {training.get('seed')} {' '.join(flags)}"
    return " ".join(f"{line} --out {name}".split())


def build_card(model_dir: str | Path, results: list[tuple[str, dict]], name: str | None = None,
               license: str | None = None):
    """`name`: the model's name (default: its directory's; `train` writes the card in a temporary directory);
    `license`: the card's license (a fine-tune's base model's own, or the owner's choice; none is assumed)."""
    from huggingface_hub import ModelCard, ModelCardData

    model_dir = Path(model_dir)
    training = _read(model_dir / "training.json")
    task = training.get("task", {})
    method = training.get("method", "pretrained")
    name = name or model_dir.name
    base = training.get("base")
    data = ModelCardData(
        model_name=name, library_name="transformers", license=license, pipeline_tag="text-generation",
        base_model=base if isinstance(base, str) and "/" in base and not Path(base).exists() else None,
        tags=[CARD_TAG, "interpretability", "mesa-optimization", f"method-{method}", f"task-{task.get('name', 'none')}"],
        eval_results=eval_results(name, [r for _, r in results]) or None,
    )
    lines = [f"# {name}", "",
             "A transformer studied with mesaprobe: does it search over its input inside one forward pass "
             "(search-in-map) or pursue a goal across time (goal-across-time)?", ""]
    if training:
        lines += how_to_use(name, task)
        lines += ["## Training", "", f"- method: `{method}` ("
                  + {"sl": "supervised; behaviour cloning of the oracle on goal tasks",
                     "rl": "PPO on the environment's reward alone"}.get(method, method) + ")",
                  f"- task: `{task.get('name')}`, parameters `{json.dumps(task.get('params', {}))}`",
                  f"- steps: {training.get('steps')}, seed: {training.get('seed')}, wall time: "
                  f"{training.get('wall_time_s')} s" + (f", episode budget: {training['episode_budget']}"
                                                         if "episode_budget" in training else ""),
                  f"- reproduce: `{train_command(name, task, training, method)}`", "",
                  "## Behaviour (held-out)", "", f"- {behaviour_words(training.get('behavior', {}))}", ""]
    if results:
        lines += ["## Probe findings", ""]
        for run, res in results:
            lines += findings(res, run)
        lines += ["### Caveats", "", CAVEATS, ""]
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines))


def write_card(model_dir: str | Path, results: list[tuple[str, dict]], name: str | None = None,
               license: str | None = None) -> Path:
    return atomic_write_text(Path(model_dir) / "README.md", str(build_card(model_dir, results, name, license)))


def is_mesaprobe_card(readme: Path) -> bool:
    from huggingface_hub import ModelCard

    if not readme.read_text(errors="replace").startswith("---"):
        return False  # no metadata block: not ours (and ModelCard.load would log a warning about it)
    try:
        return CARD_TAG in (ModelCard.load(readme).data.tags or [])
    except Exception:  # unparseable metadata: not a card we wrote
        return False


def push_hint(exc: Exception, repo_id: str) -> str:
    """What to check after a failed push, in words."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set; unset it to push"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403) or "token" in str(exc).lower():
        return (f"check your Hugging Face token (`hf auth login` or HF_TOKEN) and that it may write to {repo_id}")
    if isinstance(exc, HfHubHTTPError) and status:
        return f"the Hub answered HTTP {status}; check the repo id {repo_id!r} and your access to it"
    if isinstance(exc, (OSError, ConnectionError)) or "connect" in type(exc).__name__.lower():
        return "could not reach the Hub; check the network connection"
    first = str(exc).splitlines()[0] if str(exc) else "no message"
    return f"{type(exc).__name__}: {re.sub(r'hf_[A-Za-z0-9]+', 'hf_***', first)}"  # never a token


PUSH_TIMEOUT = 120.0  # seconds a push may take before the command gives up on it


def push_model(model_dir: Path, card: str, repo_id: str, timeout: float = PUSH_TIMEOUT) -> None:
    """One commit: the model directory's files (mesaprobe's marker left out) and the card, read from memory. The
    upload runs in a daemon thread so that an endpoint that accepts the connection and never answers costs at most
    `timeout` seconds (huggingface_hub sets no overall timeout on uploads)."""
    import threading

    failure: list[BaseException] = []
    worker = threading.Thread(target=lambda: _push(model_dir, card, repo_id, failure), daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise UserError(f"could not push to {repo_id}: no answer from the Hub within {timeout:g} s (--push-timeout); "
                        "the card was not written")
    if failure:
        raise UserError(f"could not push to {repo_id}: {push_hint(failure[0], repo_id)}; nothing was written")


def _push(model_dir: Path, card: str, repo_id: str, failure: list) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    files = [p for p in sorted(model_dir.rglob("*")) if p.is_file() and p.name not in ("README.md", MARKER)]
    operations = [CommitOperationAdd(str(p.relative_to(model_dir)), str(p)) for p in files]
    operations.append(CommitOperationAdd("README.md", card.encode()))
    try:
        api = HfApi()
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        api.create_commit(repo_id, operations, commit_message="mesaprobe: model and card", repo_type="model")
    except Exception as exc:  # network, auth or permission: one line with what to check, never the token
        failure.append(exc)


def card_command(model_dir: Path, runs: list[Path], push: str | None = None, replace_readme: bool = False,
                 push_timeout: float = PUSH_TIMEOUT, license: str | None = None) -> Path:
    """Write MODEL/README.md from its training.json and the named runs; with `push`, upload first and write the
    card only once the upload succeeded. A README.md that mesaprobe did not write is kept unless
    `replace_readme`. The token comes from huggingface_hub's own login or HF_TOKEN and is never printed."""
    model_dir = Path(model_dir)
    if not push_timeout > 0:
        raise UserError(f"--push-timeout {push_timeout}: give a positive number of seconds")
    if not (model_dir / "config.json").is_file():
        raise UserError(f"{model_dir} is not a model directory (no config.json)")
    readme = model_dir / "README.md"
    if readme.is_file() and not replace_readme and not is_mesaprobe_card(readme):
        raise UserError(f"{readme} was not written by mesaprobe; pass --replace-readme to replace it")
    if readme.is_file() and not replace_readme and changed_since_written(model_dir, "README.md"):
        raise UserError(f"{readme} was edited since mesaprobe wrote it; pass --replace-readme to replace it")
    card = str(build_card(model_dir, [(str(r), under_current_rule(load_results(r))) for r in runs], license=license))
    if push:
        push_model(model_dir, card, push, push_timeout)
    atomic_write_text(readme, card)
    record_written(model_dir, "README.md")  # so that `train --overwrite` may replace the card it finds
    return readme
