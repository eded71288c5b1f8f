"""The results contract: typed rows round-trip, and `load_results` refuses anything that is not a results file."""
import json

import pytest

from mesaprobe.errors import UserError
from mesaprobe.probes.options import ProbeOptions
from mesaprobe.schema import CausalRow, ProbeRow, load_results


def test_rows_and_config_round_trip(argmax_run):
    out, results = argmax_run
    for row in results["probes"]:
        assert ProbeRow.from_dict(row).to_dict() == row
    for row in results["causal"]:
        assert CausalRow.from_dict(row).to_dict() == row
    config = json.loads((out / "config.json").read_text())
    model, task = config.pop("model"), config.pop("task")
    assert model and task["name"] == "argmax"
    assert ProbeOptions(**config).record() == config  # every field by name, nothing else
    assert load_results(out) == json.loads(json.dumps(results))


def test_a_row_missing_a_field_is_refused(argmax_run, tmp_path):
    _, results = argmax_run
    broken = json.loads(json.dumps(results))
    del broken["probes"][0]["obs_baseline"]
    (tmp_path / "results.json").write_text(json.dumps(broken))
    with pytest.raises(UserError, match="ProbeRow lacks obs_baseline"):
        load_results(tmp_path)


@pytest.mark.parametrize("section, drop, message", [("task", "name", "`task` lacks name"),
                                                    ("model", "source", "`model` lacks source"),
                                                    ("indices", "search", "`indices` lacks search")])
def test_a_results_file_missing_what_report_and_card_read_is_refused(argmax_run, tmp_path, section, drop, message):
    """Such a file once passed the schema check and gave a KeyError traceback in `report` and `card`."""
    _, results = argmax_run
    broken = json.loads(json.dumps(results))
    del broken[section][drop]
    (tmp_path / "results.json").write_text(json.dumps(broken))
    with pytest.raises(UserError, match=message):
        load_results(tmp_path)
