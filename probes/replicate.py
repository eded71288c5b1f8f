"""One seed of a probe run: the subject's rows, both models' activations and the subject's behaviour. Under
`accelerate launch --num_processes N` the processes share the extraction (each its consecutive share of the rows, in
shards the main process merges)."""
from __future__ import annotations

from pathlib import Path

import torch

from mesaprobe.errors import UserError
from mesaprobe.models.rollouts.tiny import pad_batch
from mesaprobe.models.subjects.subject import Subject
from mesaprobe.probes.extract import EMBED_LAYER, extract_activations, merge_stores
from mesaprobe.probes.linear_suite import ProbeData
from mesaprobe.runtime import PhaseTimer, process_state


def replicate(subject: Subject, twin, n: int, seed: int, run_dir: Path, progress: bool, last: int,
              timer: PhaseTimer | None = None, on_first_batch=None, folds: int = 5) -> tuple[ProbeData, dict] | None:
    """Draw one seed's data, save it, extract both models' activations at blocks 0..`last` and the embeddings;
    return the probe data and the subject's behaviour. Launched as several processes (`accelerate launch`), each
    extracts its share of the rows into its own shards and the main process merges them and returns the data;
    the others return None. `on_first_batch(seconds, rows)` hears how long the subject's first batch took."""
    state, timer = process_state(), timer or PhaseTimer()
    together = state.num_processes > 1
    with timer("data and behaviour"):
        inputs = subject.probe_inputs(n, seed, progress)  # every process draws the same rows
    episodes = None if inputs.groups is None else len(set(inputs.groups.tolist()))
    if episodes is not None and episodes < folds:  # folds are grouped by episode (goal tasks)
        raise UserError(f"only {episodes} episode(s) of the model's own rollouts reached a decision to probe "
                        f"({len(inputs.sequences)} rows): {folds}-fold cross-validation grouped by episode needs at "
                        f"least {folds}; the model's behaviour leaves too little to probe (its rollouts end early), "
                        "or pass a larger --n or fewer --folds")
    if state.is_main_process:
        inputs.dataset.save_to_disk(str(run_dir / "data" / f"seed{seed}"))
    ids = pad_batch(inputs.sequences, subject.tokenizer.pad_token_id)[0]
    lengths = torch.tensor([len(s) for s in inputs.sequences])
    positions = {p: torch.tensor(v) for p, v in inputs.positions.items()}
    mine = share_of_rows(len(ids), state.process_index, state.num_processes)
    layers = [EMBED_LAYER, *range(last + 1)]  # extraction stops after block `last` (stop_at_layer)
    # behaviour is scored in the extraction pass when one process sees every row and the pass reaches the end
    scorer = inputs.scorer if last == subject.loaded.n_layers - 1 and not together else None
    stores = {}
    for tag, bridge, scores in (("subject", subject.bridge, scorer), ("random-init", twin.bridge, None)):
        root = run_dir / "activations" / tag / f"seed{seed}"
        with timer(f"{tag} activations" + (" and behaviour" if scores else "")):
            stores[tag] = extract_activations(bridge, ids[mine], {k: v[mine] for k, v in positions.items()},
                                              root / f"process{state.process_index}" if together else root,
                                              layers, lengths[mine], scorer=scores, progress=progress,
                                              on_first_batch=on_first_batch if tag == "subject" else None)
    if together:
        state.wait_for_everyone()  # every share is on disk
        if not state.is_main_process:
            return None
        for tag in stores:
            root = run_dir / "activations" / tag / f"seed{seed}"
            stores[tag] = merge_stores(root, [root / f"process{r}" for r in range(state.num_processes)])
    with timer("data and behaviour"):
        behavior = subject.finish(inputs, scored_in_pass=scorer is not None, progress=progress)
    data = ProbeData(ids.numpy(), inputs, stores["subject"], stores["random-init"], len(subject.tokenizer), seed,
                     answer_position=subject.task.answer_position)
    return data, behavior


def share_of_rows(n: int, rank: int, processes: int) -> slice:
    """Process `rank`'s consecutive share of `n` rows (the first `n % processes` shares get one more)."""
    size, extra = divmod(n, processes)
    start = rank * size + min(rank, extra)
    return slice(start, start + size + (rank < extra))
