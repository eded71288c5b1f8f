"""Hugging Face model cards (README.md) through huggingface_hub's ModelCard and ModelCardData."""
from __future__ import annotations

import json
from pathlib import Path


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def build_card(model_dir: str | Path, results: list[dict]):
    from huggingface_hub import ModelCard, ModelCardData

    model_dir = Path(model_dir)
    training = _read(model_dir / "training.json")
    task = training.get("task", {})
    method = training.get("method", "pretrained")
    data = ModelCardData(library_name="transformers", tags=["mesaprobe", "interpretability", f"method-{method}",
                                                            f"task-{task.get('name', 'unknown')}"])
    lines = [f"# {model_dir.name}", "",
             f"A model {'trained' if training else 'probed'} with [mesaprobe](https://github.com/mesaprobe/mesaprobe) "
             "to study search-in-map versus cross-time goal optimization.", ""]
    if training:
        lines += ["## Training", "", f"- method: `{method}`", f"- task: `{task.get('name')}` with parameters "
                  f"`{json.dumps(task.get('params', {}))}`", f"- steps: {training.get('steps')}",
                  f"- seed: {training.get('seed')}", f"- wall time: {training.get('wall_time_s')} s", "",
                  "## Behaviour", "", "```json", json.dumps(training.get("behavior", {}), indent=2), "```", ""]
    for res in results:
        lines += [f"## Probe findings on `{res['task']['name']}`", "", f"- verdict: **{res['verdict']}**", ""]
    card = ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines))
    return card


def write_card(model_dir: str | Path, results: list[dict]) -> Path:
    path = Path(model_dir) / "README.md"
    build_card(model_dir, results).save(path)
    return path
