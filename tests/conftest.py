"""Shared fixtures: the default argmax and gridworld models (committed under tests/fixtures, copied per session) and
a probe run of the argmax one; and the test tiers: a test that uses them is marked `trains` (left out of `make
test-fast`: it runs whole probes)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
# Under pytest-xdist (`make test`: one worker per core) each worker takes its share of the cores, set before numpy and
# torch load their thread pools: OpenMP and OpenBLAS threads spin while they wait, and three of them on two cores
# made a 17-second test take minutes
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if WORKERS:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(max(1, (os.cpu_count() or 1) // WORKERS)))

FIXTURES = Path(__file__).parent / "fixtures"
# fixtures whose tests train or probe whole models (left out of `make test-fast`), and every fixture built on them
TRAINING_FIXTURES = {"argmax_dir", "gridworld_sl_dir"}


def pytest_configure(config):
    # one thread per core that other work leaves free, as the CLI's compute commands do: beside a busy process the
    # default (one per core) spun for the busy one and a fixture's training took 14 minutes instead of 40 s
    from mesaprobe.runtime import set_threads

    if WORKERS:  # numpy may have loaded before this file: limit the pools already there too
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))
    set_threads(follow_free=True, keep_following=False)  # a thread count set above wins; fixed for the session


def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.trains)


def committed_model(name: str, tmp_path_factory) -> Path:
    """A copy of a model committed under tests/fixtures (tests may write beside it or try to overwrite it)."""
    out = tmp_path_factory.mktemp("models") / name
    shutil.copytree(FIXTURES / name, out)
    return out


@pytest.fixture(scope="session")
def argmax_dir(tmp_path_factory):
    """The default argmax model (`mesaprobe train argmax --seed 0`, 100% held-out), committed so that the suite does
    not train it on every worker; tests/models/test_loading.py trains one to the bar itself."""
    out = committed_model("argmax-sl", tmp_path_factory)
    return out, json.loads((out / "training.json").read_text())


@pytest.fixture(scope="session")
def argmax_run(argmax_dir, tmp_path_factory):
    """A probe run of the default argmax model (tests read it, never write it), made once for all xdist workers: the
    first to need it probes (~30 s) under a file lock in their shared temporary root, the others read it."""
    from filelock import FileLock

    from mesaprobe.probes.run import run_probe
    from mesaprobe.tasks import get_task

    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    out = root / "shared-runs" / "argmax-sl"
    with FileLock(str(root / "shared-runs.lock")):
        if not (out / "results.json").exists():
            run_probe(str(argmax_dir[0]), get_task("argmax"), out, n=600, seeds=2, folds=5, progress=False)
    return out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="session")
def gridworld_sl_dir(tmp_path_factory):
    """The default gridworld SL model (`mesaprobe train gridworld --method sl --seed 0`, 100% success), committed."""
    return committed_model("gridworld-sl", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    """A tiny Llama with a byte-level BPE tokenizer trained on the tasks' words, saved as an HF directory."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from mesaprobe.tasks import get_task

    corpus = [get_task(t).render_text(i.meta)[0] + " " + i.answer for t in ("argmax", "rocks", "kv-recall")
              for i in get_task(t).instances(300, 0)]
    corpus += [p["prompt"] + p["completion"] for p in get_task("gridworld").sft_pairs(100, 99)]
    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512)
    out = tmp_path_factory.mktemp("llama") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture()
def one_error_line():
    """The check that a command refused its input the way the CLI promises: exit 2 and one `error:` line naming it
    (beside the progress lines of work done before the failure, which off a terminal are lines of their own)."""
    import re

    def check(result, message: str) -> None:
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.strip().splitlines() if line and not re.match(r"^[^:]+: +\d+%\|", line)]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output

    return check


@pytest.fixture()
def model_copy(argmax_dir, tmp_path):
    """A copy of the shared argmax model that a test may damage."""
    out = tmp_path / "mcopy"
    shutil.copytree(argmax_dir[0], out)
    return out
