"""A fixed pool of training instances (the `pool` knob of `train` and the sweeps' diversity experiment): a model sees
only `pool` distinct instances or layouts, over and over; evaluation and probes always draw fresh ones."""
from __future__ import annotations

import random


def from_pool(draw, n: int, seed: str, pool: int | None) -> list:
    """`n` training items: `draw(n, seed)` fresh ones, or with `pool` the first `pool` of that stream, cycled."""
    if not pool or pool >= n:
        return draw(n, seed)
    items = draw(pool, seed)
    return [items[i % pool] for i in range(n)]


class LayoutPool:
    """Layouts for RL iterations: fresh ones each iteration, or `n` drawn (seeded) from a fixed pool. `stream`: a
    process's own stream when several roll out in parallel (0 is the one-process stream; the pool is shared)."""

    def __init__(self, task, seed: int, pool: int | None, stream: int = 0):
        self.task, self.seed, self.pool = task, seed, pool
        self.items = task.layouts(pool, f"train:{seed}") if pool else None
        self.suffix = f":process{stream}" if stream else ""
        self.rng = random.Random(f"pool:{seed}{self.suffix}")

    def draw(self, n: int, iteration: int) -> list[dict]:
        if self.items is None:
            return self.task.layouts(n, f"train:{self.seed}:{iteration}{self.suffix}")
        return [self.rng.choice(self.items) for _ in range(n)]
