"""A fine-tuned LM's distance from its base travels from its training.json into results.json (probes/run.py) and
into the report's own table, so that a report read from results alone says how far each model moved."""
from types import SimpleNamespace

from mesaprobe.probes.results import fine_tuning
from mesaprobe.reports.html import fine_tuning_section

TRAINED = {"method": "rl", "base": "smollm2", "steps": 200, "wall_time_s": 12.5, "lora_rank": None,
           "behavior": {"accuracy": 0.9}, "seed": 0,
           "distance_from_base": {"kl": {"mean_nats": 0.375, "max_nats": 2.5, "prompts": 100},
                                  "update": {"share": 0.25, "moved": 4, "weights": 16, "threshold": 1e-5}}}


def loaded(training: str, info: dict):
    return SimpleNamespace(training=training, info=info)


def test_a_fine_tuned_models_distance_is_recorded_and_a_random_init_twin_or_a_tiny_model_has_none():
    assert fine_tuning(loaded("rl", TRAINED))["fine_tuned"]["distance_from_base"] == TRAINED["distance_from_base"]
    assert fine_tuning(loaded("random-init", TRAINED)) == {}  # same directory, but not the fine-tuned weights
    assert fine_tuning(loaded("sl", {"method": "sl", "steps": 10})) == {}  # a tiny model trained from scratch


def test_the_report_shows_kl_and_update_share_or_the_adapters_rank():
    lora = TRAINED | {"lora_rank": 8, "method": "sl"}
    runs = [("base", {"model": {"source": "smollm2"}}),
            ("grpo", {"model": {"fine_tuned": fine_tuning(loaded("rl", TRAINED))["fine_tuned"]}}),
            ("sft-lora", {"model": {"fine_tuned": fine_tuning(loaded("sl", lora))["fine_tuned"]}})]
    html = fine_tuning_section(runs)
    assert "Distance from the base" in html and html.count("<tr>") == 3  # header + the two fine-tuned runs
    grpo, sft = html.split("<td>grpo</td>")[1].split("</tr>")[0], html.split("<td>sft-lora</td>")[1]
    assert "<td>0.375</td><td>2.500</td><td>0.250</td>" in grpo
    assert "0.250" not in sft.split("</tr>")[0] and "<td>8</td>" in sft
    assert fine_tuning_section(runs[:1]) == ""
