"""The running estimate of a probe's time: what the first seed took, times the seeds left, said only when it
matters, with the options that would shorten it."""
from mesaprobe.probes import estimate


def test_the_estimate_projects_the_first_seed_onto_the_rest(capsys):
    estimate.after_extraction(40.0, seeds=3, enabled=True)
    estimate.after_first_seed({"linear probes": 30.0, "causal probes": 270.0}, seeds=3, extraction_s=120.0,
                              causal_on=True, enabled=True)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("estimate: extraction 40 s for the first of 3 seeds, about 80 s for the rest")
    assert "the other 2 seed(s) about 10 min more, about 17 min in all" in err[1] and "--no-causal" in err[1]


def test_short_or_quiet_runs_get_no_estimate(capsys):
    estimate.after_extraction(20.0, seeds=3, enabled=True)  # 40 s left: not worth a line
    estimate.after_extraction(400.0, seeds=1, enabled=True)  # nothing left
    estimate.after_first_seed({"linear probes": 300.0}, seeds=3, extraction_s=0.0, causal_on=False, enabled=False)
    assert capsys.readouterr().err == ""


def test_a_pretrained_lm_hears_its_estimate_from_the_first_batch_and_a_long_run_asks_for_yes(capsys):
    import pytest

    from mesaprobe.errors import UserError

    # 13 rows in 5 s: 100 rows x 1 seed, model and twin ~77 s; causal (4 + 2 x 2 blocks) x 100 rows ~308 s
    estimate.before_the_work(5.0, 13, n=100, seeds=1, causal_blocks=2, yes=False, enabled=True, per_block=2.0)
    err = capsys.readouterr().err
    assert "about 6 min from here (extraction 77 s, causal probes 5 min at 2 block(s)" in err
    with pytest.raises(UserError, match="would take about 32 min; pass --yes"):
        estimate.before_the_work(5.0, 13, n=500, seeds=1, causal_blocks=2, yes=False, enabled=False, per_block=2.0)
    estimate.before_the_work(5.0, 13, n=500, seeds=1, causal_blocks=2, yes=True, enabled=False, per_block=2.0)  # asked: it runs
    assert "about 32 min from here" in capsys.readouterr().err  # said even with progress off, as it is long


def test_probe_sizes_follow_the_model_and_the_device(tiny_llama, argmax_dir):
    from mesaprobe.models.loading import load_model
    from mesaprobe.models.subjects.subject import make_subject
    from mesaprobe.probes.options import ProbeOptions
    from mesaprobe.tasks import get_task

    lm = make_subject(load_model(str(tiny_llama)), get_task("kv-recall"))
    tiny = make_subject(load_model(str(argmax_dir[0])), get_task("argmax"))
    assert ProbeOptions().sized(lm.default_sizes("cpu")).n == 100
    assert ProbeOptions().sized(lm.default_sizes("cuda")).seeds == 3
    assert ProbeOptions(n=60).sized(lm.default_sizes("cpu")).n == 60  # what the user gave stays
    assert ProbeOptions().sized(tiny.default_sizes("cpu")) == ProbeOptions(n=1000, seeds=3)
    assert lm.estimate_early and not tiny.estimate_early
