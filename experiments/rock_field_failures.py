"""Why a rock-field policy fails where it fails: each held-out greedy episode that does not end on the biggest rock
is a *collision* (every move brought the agent closer to the biggest rock, and it stepped onto another one on the
way: the goal was right, the route was not) or a *wrong target* (some move led away from the biggest rock; for
those, the size gap between the biggest and the rock it ended on), or ran *out of steps* on no rock. Also the
failure rate by the layout's route (`RockFieldTask.route`: clear, blocked: another rock lies on some shortest walk,
detour: on every one). Reads the models' directories; prints one JSON.

    python experiments/rock_field_failures.py MODEL_DIR... [--n 1000]
"""
from __future__ import annotations

import argparse
import json
from collections import Counter

import torch

from mesaprobe.models.loading import load_model
from mesaprobe.models.rollouts.tiny import rollout
from mesaprobe.tasks import get_task


def distance(a, b) -> int:
    return abs(int(a[0]) - int(b[0])) + abs(int(a[1]) - int(b[1]))


def classify(task, layout: dict, actions: list[int]) -> tuple[str, int | None]:
    """(kind, size gap): success, collision, wrong target (with the biggest size less the size of the rock it ended
    on) or out of steps, for one episode replayed from its layout and actions."""
    biggest = max(layout["rocks"], key=lambda r: r[2])
    env = task.make_env(layout)
    env.reset()
    closer = []
    for action in actions:
        before = distance(env.pos, biggest)
        env.step(action)
        closer.append(distance(env.pos, biggest) < before)
    hit = [r for r in layout["rocks"] if tuple(r[:2]) == tuple(env.pos)]
    if hit and hit[0] is biggest:
        return "success", None
    if not hit:
        return "out of steps", None
    return ("collision", None) if all(closer) else ("wrong target", biggest[2] - hit[0][2])


def failures(model_dir: str, n: int) -> dict:
    loaded = load_model(model_dir, device="cpu")
    params = loaded.info["task"]["params"]  # the layout it trained on (training.json)
    task = get_task("rock-field", **{k: params[k] for k in ("N", "K", "S", "budget", "proxy")})
    episodes = rollout(loaded.hf_model.eval(), loaded.tokenizer, task, task.layouts(n, "failures:0", split="test"))
    kinds, gaps, routes, failed = Counter(), Counter(), Counter(), Counter()
    for ep in episodes:
        route = task.route(ep.layout["rocks"], ep.layout["start"])
        routes[route] += 1
        failed[route] += not ep.success
        kind, gap = classify(task, ep.layout, ep.actions)
        kinds[kind] += 1
        if gap is not None:
            gaps[gap] += 1
    return {"model": model_dir, "episodes": n, **dict(kinds), "wrong_target_size_gaps": dict(sorted(gaps.items())),
            "failure_rate_by_route": {r: {"episodes": routes[r], "failed": failed[r],
                                          "rate": round(failed[r] / routes[r], 3)} for r in sorted(routes)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps([failures(m, args.n) for m in args.models], indent=1))


if __name__ == "__main__":
    main()
