"""DAS settings on the windowed argmax known positive (tests/fixtures/argmax-window2-sl-0): does a larger subspace or
a longer fit bring the running maximum's interchange accuracy to 0.9? One JSON line per (rank, steps, lr, block,
position), on one seed's 1200 rows. The model's residual stream has 64 dimensions, so rank 64 patches all of it and
its random control is the same patch.

    python experiments/das_settings.py 1200 > experiments/results/das-settings.jsonl
"""
import json
import sys
import tempfile
import time
from pathlib import Path

import mesaprobe.probes.causal.das as das
from mesaprobe.models.loading import load_model
from mesaprobe.models.subjects.subject import make_subject
from mesaprobe.probes.run import replicate
from mesaprobe.tasks import get_task

FIX = str(Path(__file__).parents[1] / "tests" / "fixtures" / "argmax-window2-sl-0")
task = get_task("argmax")
loaded = load_model(FIX)
subject = make_subject(loaded, task)
data, beh = replicate(subject, load_model(FIX, random_init=True, seed=5), int(sys.argv[1]), 0, Path(tempfile.mkdtemp()),
                      progress=False, last=loaded.n_layers - 1)
print("behaviour", beh, file=sys.stderr, flush=True)
for rank, steps, lr, layer, pos in [(8, 400, 1e-2, 3, "item4"), (32, 1200, 1e-2, 3, "item4"), (8, 400, 1e-2, 2, "item2"),
                                    (32, 1200, 1e-2, 2, "item2"), (64, 1200, 3e-3, 3, "item4")]:
    das.RANK, das.STEPS, das.LR = rank, steps, lr
    t = time.time()
    row = das.das_row(subject.bridge, data, "running_max", pos, layer)
    print(json.dumps({"rank": rank, "steps": steps, "lr": lr, "layer": layer, "position": pos,
                      "iia": round(row["effect"], 3), "random": round(row["control_effect"], 3),
                      "n": row["n"], "s": round(time.time() - t, 1)}), flush=True)
