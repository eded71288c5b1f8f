"""How far a fine-tuned model moved from its base: planted cases (identical weights: KL 0 and no weight moved; one
changed tensor: exactly its share) and both TRL fine-tunings of a tiny base, full and LoRA, reporting both figures."""
import pytest
import torch

from mesaprobe.models.loading import load_model
from mesaprobe.models.training.distance import answer_logprobs, base_weights, kl_from_base, update_share


def test_identical_weights_are_at_distance_zero_and_one_changed_tensor_is_its_share(tiny_llama):
    m = load_model(str(tiny_llama))
    prompts = [m.tokenizer(t)["input_ids"] for t in ("The largest of 3, 9, 4 is", "Which key holds", "a b c d e")]
    base_logp, before = answer_logprobs(m.hf_model, prompts), base_weights(m.hf_model)
    same = kl_from_base(base_logp, answer_logprobs(m.hf_model, prompts))
    assert same["mean_nats"] == pytest.approx(0.0, abs=1e-6) and same["prompts"] == 3
    assert update_share(before, m.hf_model)["share"] == 0.0
    layer = m.hf_model.lm_head.weight  # (not tied to the embeddings in this Llama)
    with torch.no_grad():
        layer += 0.5 * torch.randn_like(layer)
    moved = update_share(before, m.hf_model)
    total = sum(v.numel() for v in before.values())
    assert moved["moved"] == layer.numel() and moved["share"] == pytest.approx(layer.numel() / total)
    assert moved["tensors_moved"] == 1
    changed = kl_from_base(base_logp, answer_logprobs(m.hf_model, prompts))
    assert changed["mean_nats"] > 1e-4 and changed["max_nats"] >= changed["mean_nats"]


@pytest.mark.slow
@pytest.mark.parametrize("method,lora", [("sl", None), ("rl", None), ("sl", 2)])
def test_both_finetunings_of_a_tiny_base_say_how_far_they_moved(tiny_llama, tmp_path, method, lora):
    from mesaprobe.api import train

    out = tmp_path / f"{method}-{lora}"
    summary = train("kv-recall", method=method, out=out, steps=3, base=str(tiny_llama), lora=lora, lr=1e-2,
                    progress=False)
    distance = summary["distance_from_base"]
    kl, share = distance["kl"]["mean_nats"], distance["update"]["share"]
    assert distance["kl"]["prompts"] == 100 and 0 <= share <= 1 and summary["lora_rank"] == lora
    if method == "sl":
        assert kl > 0 and share > 0
    else:  # a random base never answers right: every GRPO group has reward 0, no advantage, so nothing may move
        assert (kl > 1e-9) == (share > 0)
    if lora:  # merged adapters move the wrapped matrices; the embeddings and norms stay as they were
        assert distance["update"]["tensors_moved"] < distance["update"]["tensors"]
    reloaded = load_model(str(out))
    assert reloaded.n_layers == 2 and not any("lora" in k for k in reloaded.hf_model.state_dict())
