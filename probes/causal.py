"""Which causal probes a run gets, and on what: LEACE and interchange interventions on the answer and on the
targets that feed the indices (S1 / G1) at every block; activation patching (search tasks, which have
counterfactual pairs); closed-loop steering (goal tasks)."""
from __future__ import annotations

from tqdm.auto import tqdm

from mesaprobe.probes.interchange import interchange_row
from mesaprobe.probes.leace import leace_row
from mesaprobe.probes.patching import patching_rows
from mesaprobe.probes.steering import steering_row
from mesaprobe.runtime import progress_disabled

CAUSAL_INDICES = ("S1", "G1")


def causal_targets(task) -> list[tuple[str, str, str]]:
    """(target, position, kind): the answer, and the index-feeding targets at their last (most informed) position."""
    out = []
    for t in task.targets():
        if t.name == "answer" or t.index in CAUSAL_INDICES:
            out.append((t.name, t.positions[-1], t.kind))
    return out


def run_causal(subject, task, data, folds: int, progress: bool = True) -> list[dict]:
    bridge = subject.bridge
    layers = [layer for layer in data.subject.layers if layer >= 0]
    jobs = [(m, t, p, k, layer) for t, p, k in causal_targets(task) for layer in layers
            for m in ("leace", "interchange") if m == "leace" or data.cf_ids is not None]
    rows = []
    for method, target, position, kind, layer in tqdm(jobs, desc=f"causal seed {data.seed}",
                                                      disable=progress_disabled(progress), leave=False):
        fn = leace_row if method == "leace" else interchange_row
        rows.append(fn(bridge, data, target, position, kind, layer, folds))
    if data.cf_ids is not None:
        names = {}
        for name, idx in data.positions.items():
            if len(set(idx.tolist())) == 1:
                names[int(idx[0])] = name
        rows += patching_rows(bridge, data, [-1, *layers], names)
    if task.family == "goal":
        rows += [steering_row(subject, task, data, layer) for layer in layers]
    return rows
