"""How far each fine-tuned model moved from the original base, recomputed from the saved weights: KL(base || model)
on the held-out prompts every model is evaluated on, and the share of weights moved (each stored tensor counted once:
a tied LM head is the embedding again). A model's training.json measures from the model it was trained from (for
SFT->GRPO, the SFT model), and runs of 07ec9ad and earlier count the tied embedding twice; this file is the one
comparison of all of them against the same base.

    python experiments/lm_distance.py smollm2 kv-recall OUT/models/sft OUT/models/grpo ... > OUT/distance.json
"""
import json
import sys

from mesaprobe.models.loading import load_model
from mesaprobe.models.training.distance import answer_logprobs, base_weights, kl_from_base, update_share
from mesaprobe.models.training.finetune import held_out_prompts
from mesaprobe.tasks import get_task

base = load_model(sys.argv[1])
prompts = held_out_prompts(get_task(sys.argv[2]), base.tokenizer, seed=0, n=100)  # finetune's defaults
pad = base.tokenizer.pad_token_id or 0
base_logp, before = answer_logprobs(base.hf_model.eval(), prompts, pad), base_weights(base.hf_model)
out = {}
for path in sys.argv[3:]:
    model = load_model(path).hf_model.eval()
    out[path.rstrip("/").rsplit("/", 1)[-1]] = {"kl": kl_from_base(base_logp, answer_logprobs(model, prompts, pad)),
                                                "update": update_share(before, model)}
json.dump({"base": sys.argv[1], "task": sys.argv[2], "models": out}, sys.stdout, indent=1)
print()
