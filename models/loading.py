"""Load a model from a local HF directory or a hub id, its random-init twin, and its transformer-lens bridge."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesaprobe.errors import UserError
from mesaprobe.runtime import device, quiet_libraries

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


@dataclass
class LoadedModel:
    hf_model: Any
    tokenizer: Any
    source: str
    training: str  # sl | rl | pretrained | random-init
    path: Path | None = None
    info: dict = field(default_factory=dict)  # training.json / mesaprobe.json of a model trained here
    _bridge: Any = None

    @property
    def n_layers(self) -> int:
        return self.hf_model.config.num_hidden_layers

    @property
    def d_model(self) -> int:
        return self.hf_model.config.hidden_size

    @property
    def bridge(self):
        """The transformer-lens TransformerBridge around `hf_model` (built on first use)."""
        if self._bridge is None:
            from transformer_lens.model_bridge import TransformerBridge

            self._bridge = TransformerBridge.boot_transformers(
                str(self.path) if self.path else self.source,
                hf_model=self.hf_model,
                tokenizer=self.tokenizer,
                device=str(self.hf_model.device),
            )
            self._bridge.eval()
        return self._bridge


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a model directory (no config.json)")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise UserError(f"{path} has no safetensors weights (model.safetensors); mesaprobe never unpickles .bin files")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise UserError(f"{path} has no tokenizer files (tokenizer.json or tokenizer_config.json)")


def load_model(source: str, random_init: bool = False, seed: int = 0, trust_remote_code: bool = False) -> LoadedModel:
    """`source`: a local HF model directory or a hub id. `random_init`: same config, fresh weights (seeded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    quiet_libraries()
    path = Path(source).expanduser()
    kwargs = {"trust_remote_code": trust_remote_code}
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{source} is a file, not a model directory")
        check_model_dir(path)
        ref, local = str(path), True
    else:
        if source.startswith((".", "/", "~")) or source.count("/") > 1:
            raise UserError(f"{source}: no such model directory")
        ref, local, path = source, False, None
    try:
        config = AutoConfig.from_pretrained(ref, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(ref, **kwargs)
        if random_init:
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(config, **kwargs)
        else:
            model = AutoModelForCausalLM.from_pretrained(ref, config=config, use_safetensors=True, **kwargs)
    except (OSError, ValueError) as exc:
        if local:
            raise UserError(f"cannot load {source}: {str(exc).splitlines()[0]}") from exc
        raise UserError(
            f"cannot fetch {source!r} from the Hugging Face Hub (offline or unknown id); "
            "download it and pass its local directory instead"
        ) from exc
    model.to(device()).eval()
    info = _read_json(path / "training.json") | {"task": _read_json(path / "mesaprobe.json")} if path else {}
    training = "random-init" if random_init else info.get("method", "pretrained")
    return LoadedModel(model, tokenizer, source, training, path, info)
