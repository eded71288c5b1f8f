"""Re-summarise saved runs under the current verdict rule and print, per run, the verdict its results.json holds
beside the one the current rule gives (probes/resummarize.py), with each family's index and the readout check.

    python experiments/verdict_rule_change.py RUN [RUN ...] > experiments/results/verdict-rule-change.md
"""
from __future__ import annotations

import sys
from pathlib import Path

from mesaprobe.probes.indices import readout_word
from mesaprobe.probes.resummarize import resummarize, saved_task
from mesaprobe.schema import load_results


def index_text(entry: dict) -> str:
    if entry.get("value") is None:
        return "n/a"
    causal = entry.get("causal") or {}
    return (f"{entry['value']:.3f} (decodable {entry['decodability']['value']:.3f}, causal "
            f"{causal.get('value', float('nan')):.3f})")


def main(runs: list[str]) -> None:
    print("| run | task | behaviour | verdict as saved | verdict, current rule | search index, current | "
          "goal index, current | answer readout carried |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        saved = load_results(run)
        task = saved_task(saved)
        now = resummarize(saved, task)
        readout = now["readout"]
        carried = "n/a" if readout is None else (f"{readout_word(readout)} "
                                                 f"({readout['effect_beyond_control']:.2f})")
        metric = next(k for k in ("success_rate", "accuracy", "rank_accuracy") if k in saved["behavior"])
        print(f"| {Path(run).name} | {task.name} | {metric} {saved['behavior'][metric]:.3f} | {saved['verdict']} | "
              f"{now['verdict']} | "
              f"{index_text(now['indices']['search'])} | {index_text(now['indices']['goal'])} | {carried} |")


if __name__ == "__main__":
    main(sys.argv[1:])
