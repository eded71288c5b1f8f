import json

import pytest
import torch

from mesaprobe.errors import UserError
from mesaprobe.models.loading import load_model, random_twin
from mesaprobe.models.tiny import TinySize, build_tiny_model
from mesaprobe.models.tokenizer import build_tokenizer, encode_tokens
from mesaprobe.tasks import get_task


@pytest.mark.trains
@pytest.mark.slow  # training to the bar: ~50 s on one core (tests/fixtures/argmax-sl is its output)
def test_trained_argmax_reaches_the_bar_and_saves_an_hf_directory(tmp_path):
    from mesaprobe.api import train

    out = tmp_path / "argmax-sl"
    summary = train("argmax", method="sl", out=out, seed=0, progress=False)
    assert summary["behavior"]["accuracy"] >= 0.99
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "training.json", "README.md"} <= names
    saved = json.loads((out / "training.json").read_text())
    assert saved["method"] == "sl" and saved["steps"] > 0 and saved["wall_time_s"] > 0
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]


def test_loaded_model_and_its_bridge_agree_with_the_saved_weights(argmax_dir):
    out, _ = argmax_dir
    loaded = load_model(str(out))
    assert loaded.training == "sl" and loaded.info["task"]["name"] == "argmax"
    ids = encode_tokens(loaded.tokenizer, [inst.tokens for inst in get_task("argmax").instances(4, 0)])
    with torch.no_grad():
        hf = loaded.hf_model(ids).logits
        tl = loaded.bridge(ids)
    torch.testing.assert_close(tl, hf, atol=1e-4, rtol=1e-4)


def test_random_init_twin_has_the_same_config_and_fresh_weights(argmax_dir):
    out, _ = argmax_dir
    trained, twin = load_model(str(out)), load_model(str(out), random_init=True, seed=1)
    again = load_model(str(out), random_init=True, seed=1)
    assert twin.training == "random-init"
    assert twin.hf_model.config.to_dict() == trained.hf_model.config.to_dict()
    w = lambda m: m.hf_model.transformer.h[0].attn.c_attn.weight
    assert not torch.allclose(w(twin), w(trained))
    torch.testing.assert_close(w(twin), w(again))
    built = random_twin(trained, seed=1)  # what `probe` uses: no second read of the checkpoint
    assert built.training == "random-init" and built.tokenizer is trained.tokenizer
    torch.testing.assert_close(w(built), w(twin))


def test_directory_without_weights_is_refused(tmp_path):
    tok = build_tokenizer(["a", "b"])
    model = build_tiny_model(tok, TinySize(1, 16, 2, 8), seed=0)
    model.config.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(UserError, match="no safetensors weights"):
        load_model(str(tmp_path))


def test_directory_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="not a model directory"):
        load_model(str(tmp_path))


def test_hub_id_while_offline_says_how_to_use_a_local_directory(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="local directory"):
        load_model("someone/some-model")


def test_tokens_outside_the_vocabulary_are_refused():
    with pytest.raises(UserError, match="lacks the task's tokens"):
        encode_tokens(build_tokenizer(["a"]), [["<bos>", "zebra"]])


@pytest.mark.parametrize("change, message", [({"n_layer": 3}, "says 3 blocks but the weights hold 2"),
                                             ({"n_layer": 10**12}, "blocks but the weights hold 2"),
                                             ({"n_embd": 128}, "hold another shape for"),
                                             ({"vocab_size": 100}, "hold another shape for transformer.wte.weight")])
def test_a_config_that_disagrees_with_its_weights_is_refused_before_anything_is_built(tmp_path, change, message):
    import shutil
    from pathlib import Path

    model = tmp_path / "m"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "argmax-sl", model)
    config = json.loads((model / "config.json").read_text()) | change
    (model / "config.json").write_text(json.dumps(config))
    for random_init in (False, True):  # the twin is built from the same config
        with pytest.raises(UserError, match=message):
            load_model(str(model), random_init=random_init)


def test_every_committed_fixture_passes_the_config_check():
    """The check reads the model's own weight files only (a PPO model keeps its value head beside them)."""
    from pathlib import Path

    fixtures = Path(__file__).parents[1] / "fixtures"
    for model in sorted(p for p in fixtures.iterdir() if (p / "config.json").is_file()):
        assert load_model(str(model)).n_layers >= 1, model
