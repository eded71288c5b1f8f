import math

from mesaprobe.models.training.supervised_loop import cosine_lr


def test_cosine_lr_warms_up_then_decays_to_zero():
    rates = [cosine_lr(s, 1000, warmup=100) for s in range(1000)]
    assert rates[0] == 0.01 and rates[99] == 1.0
    assert all(a >= b for a, b in zip(rates[100:], rates[101:]))  # cosine from the end of the warm-up on
    assert math.isclose(rates[550], 0.5, abs_tol=1e-9) and rates[-1] < 1e-4


def test_cosine_lr_holds_the_peak_for_its_share_then_decays_over_the_rest():
    rates = [cosine_lr(s, 1000, warmup=100, hold=0.8) for s in range(1000)]
    assert rates[99] == rates[500] == rates[799] == 1.0 and rates[800] == 1.0 > rates[801]
    assert math.isclose(rates[900], 0.5, abs_tol=1e-9) and rates[-1] < 1e-3
    assert cosine_lr(150, 1000, warmup=100, hold=0.05) < 1.0  # a hold shorter than the warm-up: cosine after it
