"""Load a model from a local HF directory or a hub id, its random-init twin, and its transformer-lens bridge."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesaprobe.errors import UserError
from mesaprobe.models.pretrained import (DEVICE_MAPS, DTYPE_BYTES, adapter_base, check_config_against_weights,
                                         check_memory, load_gguf,
                                         merge_adapter, params_from_safetensors, placement, smollm2_path)
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
    from mesaprobe.fsutil.atomic import read_json_object

    return read_json_object(path)


def check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise UserError(f"{path} is not a model directory (no config.json)")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise UserError(f"{path} has no safetensors weights (model.safetensors); mesaprobe never unpickles .bin files")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise UserError(f"{path} has no tokenizer files (tokenizer.json or tokenizer_config.json)")


def _hf_load(ref: str, random_init: bool, seed: int, dtype: str, trust_remote_code: bool, local: bool,
             device: str = "cpu", device_map: str | None = None):
    """(model, tokenizer) from a local directory or a hub id."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"trust_remote_code": trust_remote_code}
    try:
        config = AutoConfig.from_pretrained(ref, **kwargs)
        if local:
            check_config_against_weights(config, Path(ref))  # before any size from the config is trusted
        tokenizer = AutoTokenizer.from_pretrained(ref, **kwargs)
        if random_init:
            torch.manual_seed(seed)
            return AutoModelForCausalLM.from_config(config, **kwargs), tokenizer
        if local:
            check_memory(params_from_safetensors(Path(ref)), dtype, ref, device, device_map)
        model = AutoModelForCausalLM.from_pretrained(ref, config=config, use_safetensors=True,
                                                     dtype=getattr(torch, dtype), **placement(device_map), **kwargs)
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


def placed_like(model, like):
    """`model` on the device(s) of `like`: the same device map when `like` was dispatched by one."""
    device_map = getattr(like, "hf_device_map", None)
    if device_map is None:
        return model.to(like.device)
    from accelerate import dispatch_model

    return dispatch_model(model, device_map=device_map)


def dispatch(model, device_map: str):
    """Place a model built in memory (random init) as `device_map` would place it from disk."""
    from accelerate import dispatch_model, infer_auto_device_map

    from mesaprobe.models.pretrained import gpu_memory_budget

    budget = gpu_memory_budget()
    return dispatch_model(model, device_map=infer_auto_device_map(model, max_memory=budget) if budget else {"": "cpu"})


def random_twin(subject: LoadedModel, seed: int) -> LoadedModel:
    """`subject`'s random-init control without reading its checkpoint again (a GGUF is de-quantised only once),
    placed where the subject is."""
    model = placed_like(fresh_weights(subject.hf_model, seed), subject.hf_model).eval()
    return LoadedModel(model, subject.tokenizer, subject.source, "random-init", subject.path, subject.info)


def check_device_map(device_map: str | None, device: str) -> None:
    if device_map is not None and device_map not in DEVICE_MAPS:
        raise UserError(f"--device-map {device_map!r}: use {' or '.join(DEVICE_MAPS)}")
    if device_map is not None and device != "auto":
        raise UserError(f"--device-map {device_map} places the model itself; leave --device at auto")


def load_model(source: str, random_init: bool = False, seed: int = 0, trust_remote_code: bool = False,
               dtype: str = "float32", device: str = "auto", device_map: str | None = None) -> LoadedModel:
    """`source`: a local HF model directory (trained here, a TRL output, or any HF model), a PEFT adapter
    directory (merged into its base), a `.gguf` file, `smollm2`, or a hub id. `random_init`: the same config with
    fresh, seeded weights. `device`: auto (CUDA when present), cpu, cuda or cuda:N. `device_map` "auto":
    accelerate's big-model placement across the GPUs (for a model larger than one; all on the CPU without GPUs),
    instead of `device`."""
    quiet_libraries()
    check_device_map(device_map, device)
    target = resolve_device(device)
    if dtype not in DTYPE_BYTES:
        raise UserError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_BYTES)}")
    path = Path(source).expanduser()
    info: dict = {}
    if source == "smollm2" or path.suffix == ".gguf":
        gguf = smollm2_path() if source == "smollm2" else path
        if not gguf.is_file():
            raise UserError(f"{source}: no such GGUF file")
        model, tokenizer = load_gguf(gguf, dtype, target, device_map)
        if random_init:
            model = placed_like(fresh_weights(model, seed), model)
        path, training = None, "pretrained"
    elif path.is_dir() and (base := adapter_base(path)) is not None:
        try:
            inner = load_model(base, seed=seed, trust_remote_code=trust_remote_code, dtype=dtype, device=device,
                               device_map=device_map)
        except UserError as exc:
            raise UserError(f"{source} is a PEFT adapter whose base {base!r} cannot be loaded: {exc}") from None
        model = (placed_like(fresh_weights(inner.hf_model, seed), inner.hf_model) if random_init
                 else merge_adapter(inner.hf_model, path))
        tokenizer = inner.tokenizer
        training = "peft"
    elif path.exists():
        if not path.is_dir():
            raise UserError(f"{source} is a file, not a model directory or a .gguf file")
        check_model_dir(path)
        model, tokenizer = _hf_load(str(path), random_init, seed, dtype, trust_remote_code, True, target, device_map)
        info = _read_json(path / "training.json") | {"task": _read_json(path / "mesaprobe.json")}
        training = info.get("method", "pretrained")
    else:
        if source.startswith((".", "/", "~")) or source.count("/") > 1:
            raise UserError(f"{source}: no such model directory")
        model, tokenizer = _hf_load(source, random_init, seed, dtype, trust_remote_code, False, target, device_map)
        path, training = None, "pretrained"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if device_map is None:
        model.to(target)
    elif getattr(model, "hf_device_map", None) is None:  # built in memory (random init), not loaded with the map
        model = dispatch(model, device_map)
    model.eval()
    return LoadedModel(model, tokenizer, source, "random-init" if random_init else training, path, info)
