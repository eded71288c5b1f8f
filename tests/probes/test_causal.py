"""Known answers of the causal probes on the argmax SL model (issue: causal evidence)."""
from mesaprobe.probes.indices import verdict_rule


def test_in_fold_leace_leaves_a_fresh_probe_at_chance(argmax_run):
    _, results = argmax_run
    rows = [r for r in results["causal"] if r["method"] == "leace"]
    assert rows
    for r in rows:
        assert r["probe_after"] <= r["chance"] + 0.05, r


def test_patching_the_answer_position_flips_the_answer_and_empty_positions_do_nothing(argmax_run):
    _, results = argmax_run
    patch = {(r["layer"], r["position"]): r for r in results["causal"] if r["method"] == "patch"}
    last = results["model"]["n_layers"] - 1
    assert patch[(last, "answer")]["effect"] >= 0.95
    assert patch[(last, "answer")]["control_effect"] < 0.2
    assert patch[(last, "t0")]["effect"] == 0.0  # BOS carries nothing of the answer
    for layer in range(last + 1):  # after block 0 the items no longer feed the answer position's output directly
        assert patch[(layer, "t0")]["logit_diff"] == 0.0


def test_verdict_rule_needs_causal_support():
    strong = {"value": 0.5, "ci": [0.4, 0.6]}
    weak = {"value": 0.02, "ci": [-0.01, 0.05]}
    assert verdict_rule({"decodability": strong, "causal": strong}, None) == "search-in-map"
    assert verdict_rule({"decodability": strong, "causal": weak}, None) == "inconclusive"
    assert verdict_rule({"decodability": strong, "causal": None}, None) == "inconclusive"
    assert verdict_rule({"decodability": weak, "causal": strong}, None) == "neither"
    assert verdict_rule(None, {"decodability": strong, "causal": strong}) == "goal-across-time"
    both = {"decodability": strong, "causal": strong}
    assert verdict_rule(both, both) == "both"


def test_a_leace_eraser_moves_whole_to_the_activations_device():
    import torch
    from concept_erasure import LeaceEraser

    from mesaprobe.probes.causal.leace import on_device

    x, z = torch.randn(200, 8), torch.randint(0, 2, (200,))
    eraser = LeaceEraser.fit(x, torch.nn.functional.one_hot(z).float())
    moved = on_device(eraser, torch.device("meta"))  # a device other than the fit's, available without a GPU
    assert {t.device.type for t in (moved.proj_left, moved.proj_right, moved.bias)} == {"meta"}
    assert eraser.proj_left.device.type == "cpu"
    assert torch.equal(on_device(eraser, x.device)(x), eraser(x))
