"""Process-wide set-up shared by commands: device choice and quiet third-party progress bars."""
from __future__ import annotations


def device() -> str:
    """The accelerate device: cuda when present, else cpu."""
    from accelerate import PartialState

    return str(PartialState().device)


def progress_disabled(progress: bool) -> bool | None:
    """tqdm's `disable`: None shows bars only on a terminal; True hides them."""
    return None if progress else True


def quiet_libraries() -> None:
    """Our own bars say what is happening; the libraries' per-file bars and info logs only add noise."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()


PACKAGES = ("mesaprobe", "torch", "transformers", "transformer-lens", "scikit-learn", "concept-erasure", "datasets",
            "accelerate", "numpy", "plotly", "trl")


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on (recorded in results.json for reproduction)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
