"""The evidence sentence a reader sees first: what the verdict rests on, in words."""
from mesaprobe.reports.html import evidence_sentence


def test_the_evidence_sentence_states_the_depth_signature_per_seed():
    entry = {"value": 0.2, "ci": [0.1, 0.3], "by_seed": [0.2, 0.2], "decodability": None, "causal": None,
             "depth_signature": {"value": 1.0, "ci": [1.0, 1.0], "by_seed_layers": [{"1": 0, "2": 1, "3": 2}, {}]}}
    text = evidence_sentence({"indices": {"search": entry}, "task": {"family": "search"}, "causal": []})
    assert "example 1: layer 0, example 2: layer 1, example 3: layer 2; none decodable" in text
    assert "Spearman rho of layer against example 1.000 [1.000, 1.000]" in text
