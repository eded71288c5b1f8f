#!/usr/bin/env bash
# The fine-tuned LM pair of docs/design.md: SFT and GRPO from the same SmolLM2 base on the same kv-recall prompts,
# then GRPO warm-started from the SFT model; the base's held-out behaviour beside theirs (training.json of each holds
# its behaviour, wall time and distance from the base: KL and update share); each model probed with the defaults,
# and one side-by-side report. Resumable: finished steps are skipped.
#   bash experiments/lm_pair.sh [OUT] [TASK] [STEPS]   (default: experiments/out/lm-pair kv-recall 200)
set -euo pipefail
OUT=${1:-experiments/out/lm-pair}
TASK=${2:-kv-recall}
STEPS=${3:-200}
mkdir -p "$OUT/models" "$OUT/runs"
[ -f "$OUT/base-behavior.json" ] || python - "$OUT/base-behavior.json" "$TASK" <<'PY'
import json, sys
from mesaprobe.models.loading import load_model
from mesaprobe.models.training.finetune import evaluate_text
from mesaprobe.tasks import get_task
m = load_model("smollm2")
json.dump(evaluate_text(m.hf_model.eval(), m.tokenizer, get_task(sys.argv[2]), 0, 100), open(sys.argv[1], "w"))
PY
train() {  # name, then train's options
  local name=$1; shift
  [ -f "$OUT/models/$name/training.json" ] || mesaprobe train "$TASK" --steps "$STEPS" --out "$OUT/models/$name" "$@"
}
train sft --base smollm2 --method sl
train grpo --base smollm2 --method rl
train sft-grpo --base "$OUT/models/sft" --method rl --lr 1e-4
probed=()
for name in base sft grpo sft-grpo; do  # a model that cannot be probed (its one-line error says why) stops no other
  model=$OUT/models/$name; [ "$name" != base ] || model=smollm2
  [ -f "$OUT/runs/$name/results.json" ] || mesaprobe probe "$model" "$TASK" --out "$OUT/runs/$name" \
    || echo "lm_pair.sh: $name not probed (above: why); going on" >&2
  [ ! -f "$OUT/runs/$name/results.json" ] || probed+=("$OUT/runs/$name")
done
if [ ! -f "$OUT/distance.json" ]; then  # every model against SmolLM2 itself
  python "$(dirname "$0")/lm_distance.py" smollm2 "$TASK" "$OUT/models/sft" "$OUT/models/grpo" \
    "$OUT/models/sft-grpo" > "$OUT/distance.tmp"
  mv "$OUT/distance.tmp" "$OUT/distance.json"
fi
mesaprobe report "${probed[@]}" --out "$OUT/report.html"
