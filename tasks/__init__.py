"""Task registry: `get_task(name, **params)`."""
from __future__ import annotations

from mesaprobe.errors import UserError
from mesaprobe.tasks.argmax import ArgmaxTask
from mesaprobe.tasks.bank import BankTask
from mesaprobe.tasks.button import ButtonTask
from mesaprobe.tasks.gridworld import GridworldTask
from mesaprobe.tasks.base import Instance, TargetSpec, Task
from mesaprobe.tasks.icl_linear import ICLLinearTask
from mesaprobe.tasks.kv_recall import KVRecallTask
from mesaprobe.tasks.rocks import RocksTask

REGISTRY: dict[str, type[Task]] = {t.name: t for t in (ArgmaxTask, RocksTask, ICLLinearTask, KVRecallTask, GridworldTask, BankTask, ButtonTask)}


def get_task(name: str, **params: int) -> Task:
    if name not in REGISTRY:
        raise UserError(f"unknown task {name!r}; known tasks: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](**params)


__all__ = ["REGISTRY", "get_task", "Task", "TargetSpec", "Instance"]
