"""`--device-map auto` (accelerate's big-model placement) and the memory check that says when it is needed."""
import json

import pytest
import torch

from mesaprobe.errors import UserError
from mesaprobe.models.loading import load_model, random_twin
from mesaprobe.models.pretrained import placement_error

GIB = 2**30


def test_the_memory_check_says_when_a_model_needs_the_device_map():
    two_gpus = {"cuda:0": 10 * GIB, "cuda:1": 10 * GIB}
    assert placement_error(8 * GIB, two_gpus, "cuda:0", None) is None
    too_big_for_one = placement_error(15 * GIB, two_gpus, "cuda:0", None)
    assert "--device-map auto" in too_big_for_one and "20.0 GiB free together" in too_big_for_one
    assert placement_error(15 * GIB, two_gpus, "cuda:0", "auto") is None
    too_big_for_all = placement_error(25 * GIB, two_gpus, "cuda:0", "auto")
    assert "more than the 20.0 GiB" in too_big_for_all and "--device-map" not in too_big_for_all
    cpu_only = placement_error(15 * GIB, {"cpu": 10 * GIB}, "cpu", None)
    assert "--device-map" not in cpu_only and "bfloat16" in cpu_only  # one device: spreading cannot help


@pytest.mark.parametrize("option,message", [({"device_map": "balanced"}, "use auto"),
                                            ({"device_map": "auto", "device": "cpu"}, "leave --device at auto")])
def test_bad_device_map_options_are_refused(tiny_llama, option, message):
    with pytest.raises(UserError, match=message):
        load_model(str(tiny_llama), **option)


def test_a_placed_model_and_its_twin_run_through_the_bridge_as_the_plain_one(tiny_llama, tmp_path):
    plain, placed = load_model(str(tiny_llama)), load_model(str(tiny_llama), device_map="auto")
    assert getattr(placed.hf_model, "hf_device_map", None) is not None  # accelerate placed it
    ids = torch.tensor([plain.tokenizer("a list: 3 9 4, the largest is")["input_ids"]])
    torch.testing.assert_close(placed.bridge(ids), plain.bridge(ids))
    twins = random_twin(plain, 7), random_twin(placed, 7)
    assert getattr(twins[1].hf_model, "hf_device_map", None) == placed.hf_model.hf_device_map
    torch.testing.assert_close(twins[1].bridge(ids), twins[0].bridge(ids))


@pytest.mark.trains
def test_a_probe_with_the_device_map_equals_the_plain_probe(tiny_llama, tmp_path):
    from mesaprobe.probes.run import run_probe
    from mesaprobe.tasks import get_task

    runs = [run_probe(str(tiny_llama), get_task("argmax"), tmp_path / str(m), n=60, seeds=1, folds=3, causal=False,
                      progress=False, device_map=m) for m in (None, "auto")]
    assert json.loads((tmp_path / "auto" / "config.json").read_text())["device_map"] == "auto"
    for a, b in zip(runs[0]["probes"], runs[1]["probes"]):
        assert (a["target"], a["layer"]) == (b["target"], b["layer"])
        assert abs(a["score"] - b["score"]) <= 1e-4
