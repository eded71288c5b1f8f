"""One options object per command: every CLI option of `probe` and `train` is a field of its options dataclass with
the same default, the API takes every field by keyword and refuses the rest, and wrong types are one-line errors."""
import dataclasses

import pytest
import typer

import mesaprobe
from mesaprobe.cli import app
from mesaprobe.cli_support import parse_floats, parse_ints
from mesaprobe.errors import UserError, replace_checked
from mesaprobe.models.training.options import TrainOptions
from mesaprobe.probes.options import ProbeOptions, with_overrides

ARGUMENTS = {"model", "task", "out", "param"}  # what the command takes beside its options
CLI_ONLY = {"progress"}  # API-only: the CLI always shows progress
PARSED = {"alphas": lambda v: parse_floats(v, "--alphas"), "causal_layers": lambda v: parse_ints(v, "--causal-layers"),
          "also_methods": lambda v: tuple(v.split(",")) if v else ()}


def cli_defaults(command: str) -> dict:
    params = typer.main.get_command(app).commands[command].params
    return {p.name: PARSED.get(p.name, lambda v: v)(p.default) for p in params if p.name not in ARGUMENTS}


@pytest.mark.parametrize("command, options", [("probe", ProbeOptions), ("train", TrainOptions)])
def test_cli_options_are_the_dataclass_fields_with_their_defaults(command, options):
    fields = {f.name: f.default for f in dataclasses.fields(options) if f.name not in CLI_ONLY}
    assert cli_defaults(command) == fields


def test_api_keywords_are_the_fields():
    every = {f.name: f.default for f in dataclasses.fields(ProbeOptions)}
    assert with_overrides(None, every) == ProbeOptions()
    assert replace_checked(TrainOptions(), {f.name: f.default for f in dataclasses.fields(TrainOptions)}) == TrainOptions()
    with pytest.raises(UserError, match="unknown option 'fold'.*folds"):
        mesaprobe.probe("m", "argmax", "out", fold=3)
    with pytest.raises(UserError, match="unknown option 'step'"):
        mesaprobe.train("argmax", "out", step=3)


@pytest.mark.parametrize("bad, message", [({"folds": "3"}, "folds='3'"), ({"seeds": 2.5}, "seeds=2.5"),
                                          ({"causal": 1}, "causal=1"), ({"alphas": "1,2"}, "alphas")])
def test_wrong_types_are_refused_by_name(bad, message):
    with pytest.raises(UserError, match=message):
        ProbeOptions(**bad)


def test_types_are_normalised():
    opts = ProbeOptions(alphas=[1, 2], causal_layers=[0, 1])
    assert opts.alphas == (1.0, 2.0) and opts.causal_layers == (0, 1)
    assert opts.record()["alphas"] == [1.0, 2.0]


def test_non_finite_alphas_are_refused():
    with pytest.raises(UserError, match="positive and finite"):
        ProbeOptions(alphas=(float("inf"),)).check()


def test_sweep_options_are_the_sweep_specs_fields_with_their_defaults_in_the_cli_and_the_api():
    """SweepSpec is the sweep's one options object: the CLI's options and api.sweep's keywords are its fields."""
    import inspect

    from mesaprobe.api import sweep
    from mesaprobe.sweeps.grid import SweepSpec

    spec = {f.name: f.default for f in dataclasses.fields(SweepSpec) if f.default is not dataclasses.MISSING}
    cli = {k: v for k, v in cli_defaults("sweep").items() if k not in ("vary", "config", "workers", "ray", "log_with")}
    cli["methods"] = tuple(cli["methods"].split(","))
    assert cli == spec
    api = inspect.signature(sweep).parameters
    run_only = {"out", "workers", "ray", "progress", "log_with"}
    assert {k for k in api if k not in run_only} == {f.name for f in dataclasses.fields(SweepSpec)}
    assert all(api[k].default == v for k, v in spec.items())
