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
