"""Fixtures of the probe tests: one seed's probe data of the session's argmax model (activations on disk)."""
import pytest


@pytest.fixture(scope="session")
def probe_data(argmax_dir, tmp_path_factory):
    from mesaprobe.models.loading import load_model
    from mesaprobe.models.subjects.subject import make_subject
    from mesaprobe.probes.replicate import replicate
    from mesaprobe.tasks import get_task

    out = str(argmax_dir[0])
    loaded = load_model(out)
    data, _ = replicate(make_subject(loaded, get_task("argmax")), load_model(out, random_init=True, seed=5), 600, 0,
                        tmp_path_factory.mktemp("rep"), progress=False, last=loaded.n_layers - 1)
    return data
