"""Save a trained model as a Hugging Face model directory: config, safetensors, tokenizer, training.json,
mesaprobe.json (the task it was trained on) and a README.md model card. Written atomically."""
from __future__ import annotations

from pathlib import Path

from mesaprobe.fsutil import atomic_dir, atomic_write_json


def save_model_dir(model, tokenizer, summary: dict, out: str | Path, overwrite: bool = False) -> Path:
    from mesaprobe.reports.card import write_card

    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / "training.json", summary)
        atomic_write_json(tmp / "mesaprobe.json", summary["task"])
        value_head = getattr(model, "value_head_state", None)
        if value_head is not None:  # PPO's critic, kept for inspection; the policy is the LM itself
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in value_head.items()}, tmp / "value_head.safetensors")
        write_card(tmp, results=[])
    return Path(out)
