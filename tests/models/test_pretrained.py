"""Pretrained-model paths on models built from a config in the test: a tiny Llama with a byte-level BPE tokenizer,
a PEFT LoRA adapter merged into it, a GGUF of an unsupported architecture, and (slow) the real SmolLM2 GGUF."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mesaprobe.errors import UserError
from mesaprobe.models.loading import load_model
from mesaprobe.tasks import get_task

pytestmark = pytest.mark.trains  # most tests here train or run whole probes


def test_text_positions_align_with_the_models_tokens(tiny_llama):
    from mesaprobe.models.subjects.text_eval import text_examples

    m = load_model(str(tiny_llama))
    assert m.training == "pretrained" and m.n_layers == 2
    for ex in text_examples(get_task("argmax"), m.tokenizer, 20, 0, shots=2):
        for i, value in enumerate(ex.meta["values"]):
            piece = m.tokenizer.decode([ex.ids[ex.positions[f"item{i}"]]])
            assert str(value)[-1] in piece  # the token holding the number's last digit
        assert ex.positions["answer"] == len(ex.ids) - 1


def test_probe_of_an_untrained_lm_in_natural_language_scores_at_chance(tiny_llama, tmp_path):
    from mesaprobe.probes.run import run_probe

    res = run_probe(str(tiny_llama), get_task("argmax"), tmp_path / "run", n=150, seeds=1, folds=3, progress=False,
                    causal=False)  # text causal probes: tests/models/subjects/test_text_pairs.py
    b = res["behavior"]
    assert abs(b["rank_accuracy"] - b["chance"]) < 0.15 and b["chance"] == pytest.approx(0.2)
    assert {r["layer"] for r in res["probes"]} == {-1, 0, 1}
    assert {r["position"] for r in res["probes"]} >= {"answer", "item0", "item4"}
    assert res["verdict"] in {"neither", "inconclusive"}  # without causal probes: never stronger
    assert {s["method"] for s in res["causal_skipped"]} == {"leace", "interchange", "patch", "das", "retarget",
                                                             "score-swap"}
    assert all("switched off" in s["reason"] for s in res["causal_skipped"]) and res["causal"] == []
    phases = res["environment"]["phase_s"]  # behaviour scored in the subject's extraction pass
    assert set(phases) == {"load", "data and behaviour", "subject activations and behaviour", "random-init activations",
                           "linear probes"}
    assert sum(phases.values()) <= res["environment"]["wall_time_s"]


def test_max_layer_stops_early(tiny_llama, tmp_path):
    from mesaprobe.probes.run import run_probe

    res = run_probe(str(tiny_llama), get_task("kv-recall"), tmp_path / "run", n=60, seeds=1, folds=3,
                    progress=False, max_layer=0)
    assert {r["layer"] for r in res["probes"]} == {-1, 0}
    assert "subject activations" in res["environment"]["phase_s"]  # no logits there: behaviour scored apart
    assert 0 <= res["behavior"]["rank_accuracy"] <= 1


def test_a_lora_adapter_is_merged_into_its_base(tiny_llama, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(tiny_llama)
    merged = load_model(str(tmp_path / "adapter"))
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        expected = peft_model(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_llama)(ids).logits
    assert merged.training == "peft"
    torch.testing.assert_close(merged.hf_model(ids).logits, expected, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(plain, expected, atol=1e-4)
    twin = load_model(str(tmp_path / "adapter"), random_init=True, seed=3)  # fresh weights, not the base's
    assert twin.training == "random-init" and not torch.allclose(twin.hf_model(ids).logits, plain, atol=1e-4)


def test_an_adapter_whose_base_is_missing(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/no/such/base"}))
    with pytest.raises(UserError, match="PEFT adapter whose base"):
        load_model(str(tmp_path))


def test_a_gguf_of_an_unsupported_architecture(tmp_path):
    import numpy as np
    from gguf import GGUFWriter

    path = tmp_path / "odd.gguf"
    writer = GGUFWriter(str(path), "notanarch")
    writer.add_tensor("w", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UserError, match="not supported"):
        load_model(str(path))


def test_a_model_too_large_for_memory_is_refused_before_loading(tiny_llama, monkeypatch):
    import mesaprobe.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "available_memory", lambda: 1000)
    with pytest.raises(UserError, match="needs about"):
        load_model(str(tiny_llama))


def test_remote_code_needs_the_flag(tiny_llama, tmp_path):
    import shutil

    d = shutil.copytree(tiny_llama, tmp_path / "remote")
    cfg = json.loads((d / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.XModel"}
    cfg["model_type"] = "x-custom"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="trust-remote-code"):
        load_model(str(d))


@pytest.mark.slow
def test_smollm2_loads_offline_through_the_bridge():
    m = load_model("smollm2")
    assert m.n_layers == 30 and m.d_model == 576
    ids = m.tokenizer("Numbers: 3, 9, 4.\nThe largest number is", return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(m.bridge(ids), m.hf_model(ids).logits, atol=1e-3, rtol=1e-3)
    # SmolLM2 writes " 7" as " " then "7": the space joins the prompt, so the answer position is where digits part
    from mesaprobe.models.subjects.text_pairs import text_pairs

    ex = text_pairs(get_task("kv-recall"), m.tokenizer, 2, 0).base[0]
    assert m.tokenizer.decode(ex.stem) == " " and ex.positions["answer"] == len(ex.ids) - 1
    assert sorted(m.tokenizer.decode(t) for t in ex.candidate_tokens(m.tokenizer)) == list("0123456789")
    # the GGUF is de-quantised to plain tensors, so the Trainer may fine-tune it (it refuses a model marked quantized)
    from transformers.trainer_utils import validate_quantization_for_training

    validate_quantization_for_training(m.hf_model)
    assert not hasattr(m.hf_model.config, "quantization_config")


class ScriptedLM(torch.nn.Module):
    """Always replies with the same words, one token per forward call: a known policy for the text environment."""

    def __init__(self, tokenizer, reply):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.reply = tokenizer(reply, add_special_tokens=False).input_ids
        self.vocab, self.calls = len(tokenizer), 0

    def forward(self, input_ids, **kw):
        logits = torch.full((1, input_ids.shape[1], self.vocab), -30.0)
        logits[0, -1, self.reply[self.calls % len(self.reply)]] = 30.0
        self.calls += 1
        return SimpleNamespace(logits=logits, past_key_values=None)


def test_text_environment_closes_the_loop_and_counts_unparseable_replies(tiny_llama):
    from mesaprobe.models.rollouts.text import text_rollout

    tok = load_model(str(tiny_llama)).tokenizer
    task = get_task("gridworld")
    layout = {"start": [2, 0], "goal": [2, 3], "walls": []}
    (ep,), bad = text_rollout(ScriptedLM(tok, " right."), tok, task, [layout], max_new_tokens=8)
    assert bad == 0 and ep.success and ep.actions == [3, 3, 3]
    assert ep.text.count("Your move:") == 3 and ep.text.endswith("Your move: right.")
    assert len(ep.decisions) == 3
    assert tok.decode(ep.ids, skip_special_tokens=True) == ep.text  # the tokens the model read are the transcript
    assert all(tok.decode(ep.ids[d]).endswith(":") for d in ep.decisions)
    said = [t for t, m in zip(ep.ids[ep.prompt_len:], ep.model_mask) if m]
    assert tok.decode(said) == " right." * 3
    eps, bad = text_rollout(ScriptedLM(tok, " 42"), tok, task, task.layouts(5, 0))
    assert bad == 5 and not any(e.success for e in eps)


def test_grpo_rollout_func_returns_whole_episodes_with_the_environments_words_masked(tiny_llama):
    from mesaprobe.models.training.grpo_goal import episode_return, episode_rollout_func

    tok = load_model(str(tiny_llama)).tokenizer
    task = get_task("gridworld")
    near = {"start": [2, 0], "goal": [2, 3], "walls": []}  # three moves right
    wrong = {"start": [2, 3], "goal": [2, 0], "walls": []}  # right is into the wall, until the budget runs out
    trainer = SimpleNamespace(model=ScriptedLM(tok, " right."), processing_class=tok,
                              accelerator=SimpleNamespace(unwrap_model=lambda m: m),
                              args=SimpleNamespace(seed=0, temperature=1.0), state=SimpleNamespace(global_step=0))
    prompts = [task.render_text(near)[0]] * 2 + [task.render_text(wrong)[0]]
    out = episode_rollout_func(task, [near, wrong], max_new_tokens=8)(prompts, trainer)
    assert len(out["completion_ids"]) == 3 and out["success"] == [1.0, 1.0, 0.0]
    assert episode_return(None, **out) == pytest.approx([task.gamma**2, task.gamma**2, 0.0])
    reply_len = len(tok(" right.", add_special_tokens=False).input_ids)
    for ids, mask, logps, prompt_ids, prompt in zip(out["completion_ids"], out["env_mask"], out["logprobs"],
                                                    out["prompt_ids"], prompts):
        assert len(ids) == len(mask) == len(logps) and tok.decode(prompt_ids, skip_special_tokens=True) == prompt
        said = tok.decode([t for t, m in zip(ids, mask) if m])
        heard = tok.decode([t for t, m in zip(ids, mask) if not m])
        assert set(said.split()) == {"right."} and "You are at row" in heard and "right" not in heard
        assert all(lp == pytest.approx(0.0, abs=1e-6) for lp, m in zip(logps, mask) if m)  # the scripted reply is sure
    assert sum(out["env_mask"][0]) == 3 * reply_len and sum(out["env_mask"][2]) == task.params["budget"] * reply_len


@pytest.mark.parametrize("task,method", [("argmax", "sl"), ("gridworld", "sl"), ("kv-recall", "rl"),
                                         ("gridworld", "rl")])
def test_finetuning_a_pretrained_base_with_trl_saves_a_probeable_directory(tiny_llama, tmp_path, task, method):
    from mesaprobe.api import train

    out = tmp_path / f"{task}-{method}"
    summary = train(task, method=method, out=out, steps=2, base=str(tiny_llama), progress=False)
    assert summary["trainer"] == {"sl": "SFTTrainer", "rl": "GRPOTrainer"}[method]
    assert summary["base"] == str(tiny_llama) and (out / "model.safetensors").is_file()
    reloaded = load_model(str(out))
    assert reloaded.training == method and reloaded.n_layers == 2


@pytest.fixture(scope="module")
def gridworld_sft(tiny_llama, tmp_path_factory):
    """The tiny Llama after 150 SFT steps on oracle gridworld transcripts, and its training summary."""
    from mesaprobe.api import train

    out = tmp_path_factory.mktemp("gridworld") / "sft"
    summary = train("gridworld", method="sl", out=out, steps=150, base=str(tiny_llama), lr=3e-3, progress=False)
    return SimpleNamespace(path=out, summary=summary)


def test_an_sft_model_acts_in_the_text_gridworld_and_its_episodes_are_probed(tiny_llama, gridworld_sft, tmp_path):
    """Untrained, the LM names no move; after SFT on oracle transcripts it names one every time, and `probe` reads
    its own episodes (goal, position, future positions at each decision) beside the controls."""
    from mesaprobe.models.rollouts.text import text_rollout
    from mesaprobe.probes.run import run_probe

    task = get_task("gridworld")
    base = load_model(str(tiny_llama))
    _, unparsed = text_rollout(base.hf_model, base.tokenizer, task, task.layouts(10, 0))
    assert unparsed == 10
    summary = gridworld_sft.summary
    assert summary["behavior"]["unparseable"] == 0 and summary["behavior"]["n_episodes"] == 100
    res = run_probe(str(gridworld_sft.path), task, tmp_path / "run", n=300, seeds=1, folds=3, progress=False)
    assert res["behavior"]["unparseable_rate"] == 0
    rows = {(r["target"], r["layer"]) for r in res["probes"]}
    assert {("goal", 1), ("position", 1), ("position+1", 1), ("answer", -1)} <= rows
    goal = next(r for r in res["probes"] if r["target"] == "goal" and r["layer"] == -1)
    assert goal["obs_baseline"] > goal["chance"]  # the goal is written in the prompt: the tokens alone decode it
    # LEACE runs at the decisions (a move scored by its word's token there) beside its random subspace; the methods
    # that need counterfactual episodes or steered text rollouts say why they did not run
    leace = [r for r in res["causal"] if r["method"] == "leace" and r["target"] == "goal"]
    assert leace and all(np.isfinite([r["effect"], r["control_effect"]]).all() for r in leace)
    skipped = {s["method"]: s["reason"] for s in res["causal_skipped"]}
    assert "not implemented yet" in skipped["steer"] and "leace" not in skipped


def test_a_text_goal_decision_is_scored_by_its_move_words_tokens_as_the_model_moved(gridworld_sft):
    """The move the logits of the move words' tokens pick at a decision is the move the model's greedy reply made
    there (after SFT, whose replies start with the move word); a tokenizer that splits a move word has no scores."""
    from mesaprobe.models.rollouts.tiny import pad_batch
    from mesaprobe.models.subjects.subject import TextSubject, move_token_ids
    from mesaprobe.probes.intervene import logits_at

    task = get_task("gridworld")
    subject = TextSubject(load_model(str(gridworld_sft.path)), task)
    assert "answer_logits" in subject.capabilities
    assert [subject.tokenizer.decode([i]) for i in subject.move_ids] == [" up", " down", " left", " right"]
    inputs = subject.goal_inputs(60, 0, progress=False)
    ids = pad_batch(inputs.sequences, subject.tokenizer.pad_token_id)[0]
    picked = logits_at(subject.bridge, ids, torch.tensor(inputs.positions["decision"]), inputs.class_ids).argmax(-1)
    assert (picked.numpy() == np.asarray(inputs.dataset["action"])).mean() >= 0.95
    assert len(inputs.answer_classes) == len(ids) and set(inputs.answer_classes) <= {0, 1, 2, 3}

    class Splitting:  # every word two tokens
        def __call__(self, text, add_special_tokens=False):
            return SimpleNamespace(input_ids=[1, 2] if text.strip() else [])
    assert move_token_ids(Splitting(), task) is None
