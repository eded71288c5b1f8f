"""mesaprobe: search-in-map vs cross-time goal optimization, probed with linear and causal probes.

`import mesaprobe` is light; `train`, `probe`, `load_results`, `results_frame` and `clean` load what they need on
first use (mesaprobe/api.py)."""

from mesaprobe.errors import UserError  # what the API raises for input a user can fix

__version__ = "0.1.0"
__all__ = ["tasks", "train", "probe", "sweep", "experiment", "report", "card", "demo", "load_results", "results_frame",
           "runs_frame", "export", "clean", "UserError"]


def __getattr__(name: str):
    if name in __all__ and name != "UserError":
        from mesaprobe import api

        return getattr(api, name)
    raise AttributeError(f"module 'mesaprobe' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The lazy exports too, so that tab-completion and help() find `train`, `probe`, `results_frame`, ..."""
    return sorted(set(globals()) | set(__all__))
