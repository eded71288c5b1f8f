"""Load a model from a local HF directory or a hub id, its random-init twin, and its transformer-lens bridge."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesaprobe.errors import UserError
from mesaprobe.models.pretrained import (DTYPE_BYTES, adapter_base, check_memory, load_gguf, merge_adapter,
                                         params_from_safetensors, smollm2_path)
from mesaprobe.runtime import quiet_libraries, resolve_device

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

            # with hf_model given, the bridge takes the config from the model; the name is a label
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


def _hf_load(ref: str, random_init: bool, seed: int, dtype: str, trust_remote_code: bool, local: bool):
    """(model, tokenizer) from a local directory or a hub id."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"trust_remote_code": trust_remote_code}
    try:
        config = AutoConfig.from_pretrained(ref, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(ref, **kwargs)
        if random_init:
            torch.manual_seed(seed)
            return AutoModelForCausalLM.from_config(config, **kwargs), tokenizer
        if local:
            check_memory(params_from_safetensors(Path(ref)), dtype, ref)
        model = AutoModelForCausalLM.from_pretrained(ref, config=config, use_safetensors=True,
                                                     dtype=getattr(torch, dtype), **kwargs)
        return model, tokenizer
    except UserError:
        raise
    except Exception as exc:  # a damaged file raises whatever its reader raises (SafetensorError, OSError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "trust_remote_code" in str(exc):
            raise UserError(f"{ref} needs its own code to load; pass --trust-remote-code if you trust it") from None
        if local:
            raise UserError(f"cannot load {ref}: {type(exc).__name__}: {first}") from None
        if not isinstance(exc, (OSError, ValueError)):
            raise
        raise UserError(f"cannot fetch {ref!r} from the Hugging Face Hub (offline or unknown id); "
                        "download it and pass its local directory instead") from None


def fresh_weights(model, seed: int):
    """The same architecture and config with newly initialised, seeded weights, in the model's dtype."""
    import torch

    torch.manual_seed(seed)
    return type(model)(model.config).to(model.dtype)


def random_twin(subject: LoadedModel, seed: int) -> LoadedModel:
    """`subject`'s random-init control without reading its checkpoint again (a GGUF is de-quantised only once)."""
    model = fresh_weights(subject.hf_model, seed).to(subject.hf_model.device).eval()
    return LoadedModel(model, subject.tokenizer, subject.source, "random-init", subject.path, subject.info)


def load_model(source: str, random_init: bool = False, seed: int = 0, trust_remote_code: bool = False,
               dtype: str = "float32", device: str = "auto") -> LoadedModel:
    """`source`: a local HF model directory (trained here, a TRL output, or any HF model), a PEFT adapter
    directory (merged into its base), a `.gguf` file, `smollm2`, or a hub id. `random_init`: the same config with
    fresh, seeded weights. `device`: auto (CUDA when present), cpu, cuda or cuda:N."""
    quiet_libraries()
    target = resolve_device(device)
    if dtype not in DTYPE_BYTES:
        raise UserError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_BYTES)}")
    path = Path(source).expanduser()
    info: dict = {}
    if source == "smollm2" or path.suffix == ".gguf":
        gguf = smollm2_path() if source == "smollm2" else path
        if not gguf.is_file():
            raise UserError(f"{source}: no such GGUF file")
        model, tokenizer = load_gguf(gguf, dtype)
        if random_init:
            model = fresh_weights(model, seed)
        path, training = None, "pretrained"
    elif path.is_dir() and (base := adapter_base(path)) is not None:
        try:
            inner = load_model(base, seed=seed, trust_remote_code=trust_remote_code, dtype=dtype, device=device)
        except UserError as exc:
            raise UserError(f"{source} is a PEFT adapter whose base {base!r} cannot be loaded: {exc}") from None
        model = fresh_weights(inner.hf_model, seed) if random_init else merge_adapter(inner.hf_model, path)
        tokenizer = inner.tokenizer
        training = "peft"
    elif path.exists():
        if not path.is_dir():
            raise UserError(f"{source} is a file, not a model directory or a .gguf file")
        check_model_dir(path)
        model, tokenizer = _hf_load(str(path), random_init, seed, dtype, trust_remote_code, local=True)
        info = _read_json(path / "training.json") | {"task": _read_json(path / "mesaprobe.json")}
        training = info.get("method", "pretrained")
    else:
        if source.startswith((".", "/", "~")) or source.count("/") > 1:
            raise UserError(f"{source}: no such model directory")
        model, tokenizer = _hf_load(source, random_init, seed, dtype, trust_remote_code, local=False)
        path, training = None, "pretrained"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(target).eval()
    return LoadedModel(model, tokenizer, source, "random-init" if random_init else training, path, info)
