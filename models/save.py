"""Save a trained model as a Hugging Face model directory: config, safetensors, tokenizer, training.json and
mesaprobe.json (the task it was trained on). The caller provides the directory (fsutil.outputs.output_dir: atomic, locked)
and writes the model card (reports/card.py) beside these files."""
from __future__ import annotations

from pathlib import Path

from mesaprobe.fsutil import atomic_write_json


def save_model_dir(model, tokenizer, summary: dict, directory: str | Path) -> Path:
    directory = Path(directory)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    atomic_write_json(directory / "training.json", summary)
    atomic_write_json(directory / "mesaprobe.json", summary["task"])
    value_head = getattr(model, "value_head_state", None)
    if value_head is not None:  # PPO's critic, kept for inspection; the policy is the LM itself
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in value_head.items()}, directory / "value_head.safetensors")
    return directory
