"""A pretrained LM on the search tasks in natural language, few-shot, plain text and through its chat template:
rank accuracy (candidates' full log-probabilities), greedy accuracy and chance, per task. Also where the ranking's
pick sits among the candidates beside where the answer sits (for argmax and rocks the candidates are the list's items
in order, so a model that reads positions instead of values shows up there).

    python experiments/lm_search_accuracy.py [--model smollm2] [--n 100] [--shots 3] [--out experiments/lm_search.json]
"""
from __future__ import annotations

import argparse
import json
import time

from mesaprobe.fsutil import atomic_write_json
from mesaprobe.models.loading import load_model
from mesaprobe.models.subjects.text_eval import TextScorer, text_examples
from mesaprobe.tasks import get_task


def histogram(indices: list[int]) -> dict[int, float]:
    """Share of examples at each candidate index."""
    return {i: round(indices.count(i) / len(indices), 3) for i in sorted(set(indices))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--tasks", nargs="+", default=["argmax", "kv-recall", "icl-linear"])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="experiments/lm_search.json")
    args = parser.parse_args()
    start = time.perf_counter()
    m = load_model(args.model)
    rows = [{"load_s": round(time.perf_counter() - start, 1)}]
    for name in args.tasks:
        task = get_task(name)
        for chat in (False, True):
            t0 = time.perf_counter()
            examples = text_examples(task, m.tokenizer, args.n, args.seed, shots=args.shots, chat=chat)
            scorer = TextScorer(m.hf_model, m.tokenizer, examples)
            scores = scorer.run(progress=False)
            picked = [int(s.argmax()) for s in scorer.candidate_logprobs]
            answer = [ex.candidates.index(ex.answer) for ex in examples]
            row = {"task": name, "prompt": "chat" if chat else "plain", "shots": args.shots, "n": args.n,
                   **{k: round(v, 3) for k, v in scores.items()}, "wall_s": round(time.perf_counter() - t0, 1),
                   "picked_candidate_index": histogram(picked), "answer_candidate_index": histogram(answer)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    atomic_write_json(args.out, {"model": args.model, "rows": rows})


if __name__ == "__main__":
    main()
