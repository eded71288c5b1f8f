"""DAS settings on a search known-positive candidate: does a larger subspace or a longer fit bring a search
variable's interchange accuracy to 0.9? One JSON line per (rank, steps, lr, block, position), on one seed's rows.
Rank d (the residual width) patches the whole residual stream at that position: the most any subspace there can
reach, and its random control is the same patch.

    python experiments/das_settings.py 1200 > experiments/results/das-settings.jsonl      # the windowed model
    python experiments/das_settings.py 3000 --model tests/fixtures/argmax-closest-sl --task-param rule=3 \\
        --target closeness --grid 8,400,0.01,0,item1 8,400,0.01,0,item3 8,400,0.01,1,item1 8,400,0.01,1,item3 \\
        8,400,0.01,0,item0 8,400,0.01,0,item2 8,400,0.01,0,item4 16,1200,0.01,0,item3 8,400,0.01,-1,item3 \\
        > experiments/results/das-closeness.jsonl    # block -1: the embeddings
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import mesaprobe.probes.causal.das as das
from mesaprobe.models.loading import load_model
from mesaprobe.models.subjects.subject import make_subject
from mesaprobe.probes.replicate import replicate
from mesaprobe.tasks import get_task

WINDOWED = str(Path(__file__).parents[1] / "tests" / "fixtures" / "argmax-window2-sl-0")
GRID = ["8,400,0.01,3,item4", "32,1200,0.01,3,item4", "8,400,0.01,2,item2", "32,1200,0.01,2,item2",
        "64,1200,0.003,3,item4"]  # rank, steps, lr, block, position

parser = argparse.ArgumentParser()
parser.add_argument("n", type=int)
parser.add_argument("--model", default=WINDOWED)
parser.add_argument("--task-param", action="append", default=[], help="KEY=INT of the argmax task")
parser.add_argument("--target", default="running_max")
parser.add_argument("--grid", nargs="*", default=GRID)
args = parser.parse_args()

task = get_task("argmax", **{k: int(v) for k, v in (p.split("=") for p in args.task_param)})
loaded = load_model(args.model)
subject = make_subject(loaded, task)
data, beh = replicate(subject, load_model(args.model, random_init=True, seed=5), args.n, 0, Path(tempfile.mkdtemp()),
                      progress=False, last=loaded.n_layers - 1)
print("behaviour", beh, file=sys.stderr, flush=True)
for item in args.grid:
    rank, steps, lr, layer, pos = item.split(",")
    das.RANK, das.STEPS, das.LR = int(rank), int(steps), float(lr)
    t = time.time()
    row = das.das_row(subject.bridge, data, args.target, pos, int(layer))
    print(json.dumps({"target": args.target, "rank": int(rank), "steps": int(steps), "lr": float(lr),
                      "layer": int(layer), "position": pos, "iia": round(row["effect"], 3),
                      "random": round(row["control_effect"], 3), "n": row["n"], "s": round(time.time() - t, 1)}),
          flush=True)
