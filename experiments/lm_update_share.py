"""The share of weights each fine-tuned model moved from its base, recomputed from the saved weights (each stored
tensor counted once: a tied LM head is the embedding again). Models fine-tuned before that count was fixed
(07ec9ad and earlier) have it doubled for the embedding in their training.json; this is the figure to read for them.

    python experiments/lm_update_share.py smollm2 OUT/models/sft OUT/models/grpo ... > OUT/update-share.json
"""
import json
import sys

from mesaprobe.models.loading import load_model
from mesaprobe.models.training.distance import base_weights, update_share

base = base_weights(load_model(sys.argv[1]).hf_model)
out = {path.rstrip("/").rsplit("/", 1)[-1]: update_share(base, load_model(path).hf_model) for path in sys.argv[2:]}
json.dump(out, sys.stdout, indent=1)
print()
