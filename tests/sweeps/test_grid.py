"""The sweep grid: parsing, expansion in a fixed order, keys that name a configuration, and one-line refusals."""
import pytest

from mesaprobe.errors import UserError
from mesaprobe.sweeps.grid import SweepSpec, load_spec_file, parse_vary


def test_vary_parses_integers_and_methods():
    assert parse_vary(["K=2,4, 8", "method=sl,rl"]) == {"K": [2, 4, 8], "method": ["sl", "rl"]}


@pytest.mark.parametrize("item, message", [("K", "expected KEY=V1,V2"), ("K=two", "takes integers")])
def test_bad_vary_is_one_line(item, message):
    with pytest.raises(UserError, match=message):
        parse_vary([item])


def test_cells_cover_the_grid_times_methods_and_seeds_in_order():
    spec = SweepSpec("argmax", vary={"K": [3, 5], "layers": [1, 2]}, fixed={"V": 32}, methods=("sl",), seeds=2)
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2
    assert [(c.params["K"], c.layers, c.seed) for c in cells[:3]] == [(3, 1, 0), (3, 1, 1), (3, 2, 0)]
    assert all(c.params["V"] == 32 for c in cells)
    assert len({c.key for c in cells}) == len(cells)  # every configuration its own key
    assert [c.key for c in cells] == [c.key for c in spec.cells()]  # and the same key every time


def test_a_method_knob_replaces_the_methods_list():
    cells = SweepSpec("gridworld", vary={"method": ["sl", "rl"]}, methods=("sl",)).cells()
    assert [c.method for c in cells] == ["sl", "rl"]


@pytest.mark.parametrize("spec, message", [
    (SweepSpec("argmax", vary={"colour": [1]}), "cannot vary 'colour'"),
    (SweepSpec("argmax", vary={"K": [1, 3]}), "K=1 is out of range"),
    (SweepSpec("argmax", vary={"K": []}), "at least one value"),
    (SweepSpec("argmax", vary={"method": ["dpo"]}), "'dpo' is not sl or rl"),
    (SweepSpec("argmax", vary={"pool": [-1]}), "an integer >= 0"),
    (SweepSpec("argmax", methods=("ppo",)), "--methods 'ppo'"),
    (SweepSpec("argmax", seeds=0), "--training-seeds >= 1"),
])
def test_bad_grids_are_refused_before_any_cell(spec, message):
    with pytest.raises(UserError, match=message):
        spec.cells()


def test_yaml_spec_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("task: argmax\nvary:\n  K: [3, 6]\n  layers: 2\nmethods: [sl]\nseeds: 2\n")
    data = load_spec_file(path)
    assert data["vary"] == {"K": [3, 6], "layers": [2]} and data["seeds"] == 2 and data["methods"] == ("sl",)
    path.write_text("task: argmax\nvray: {K: [3]}\n")
    with pytest.raises(UserError, match="unknown key 'vray'"):
        load_spec_file(path)
    path.write_text("task: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_spec_file(path)


def test_a_value_listed_twice_runs_once_with_a_note(capsys):
    """`--vary K=3,3` once ran the same cell twice at once: one failed on the other's directory."""
    cells = SweepSpec("argmax", vary=parse_vary(["K=3,3,5"]), methods=("sl",)).cells()
    assert [c.params["K"] for c in cells] == [3, 5] and len({c.key for c in cells}) == 2
    assert "--vary K lists 3 more than once" in capsys.readouterr().err


@pytest.mark.parametrize("yaml_text, message", [
    ("task: argmax\nn: .nan\n", "n must be a whole number"),
    ("task: argmax\ndata_seeds: 1.5\n", "data_seeds must be a whole number"),
    ("task: argmax\ncausal: 'no'\n", "causal must be true or false"),
    ("task: argmax\nseeds: '2'\n", "seeds must be a whole number"),
    ("task: argmax\nmethods: 5\n", "methods must be a list"),
    ("task: argmax\nfixed: [1, 2]\n", "fixed must map"),
    ("task: 5\n", "task is a name"),
])
def test_a_sweep_file_is_checked_whole_before_any_cell(tmp_path, yaml_text, message):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml_text)
    with pytest.raises(UserError, match=message):
        SweepSpec(**load_spec_file(path)).cells()


def test_a_grid_past_its_bound_is_refused_before_it_is_built():
    with pytest.raises(UserError, match="at most 10000"):
        SweepSpec("argmax", vary={"K": [3]}, seeds=1_000_000_000).cells()


def test_keys_of_committed_cells_are_stable_and_a_cell_trained_until_its_bar_has_its_own():
    import csv
    from pathlib import Path

    from mesaprobe.sweeps.named import get_experiment

    committed = Path(__file__).parents[2] / "experiments/results/candidates-standard.csv"
    keys = {row["key"] for row in csv.DictReader(committed.open())}
    cells = get_experiment("candidates").spec("standard").cells()
    assert {c.key for c in cells} == keys  # a resumed standard run finds every committed cell
    spec = get_experiment("candidates").spec("standard")
    spec.until_bar = True
    assert not {c.key for c in spec.cells()} & keys and all(c.until_bar for c in spec.cells())
    with pytest.raises(UserError, match="until_bar must be true or false"):
        SweepSpec("argmax", until_bar="yes").cells()
