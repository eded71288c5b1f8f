"""Task registry. A task registers itself by subclassing `SearchTask` or `GoalTask` with a `name`: every module in
this package is imported here, so adding a task is adding one file. Tasks from elsewhere: a file
(`path/to/file.py:ClassName`) or a `mesaprobe.tasks` entry point naming a Task class."""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

from mesaprobe.errors import UserError
from mesaprobe.tasks.base import REGISTRY, Instance, TargetSpec, Task

ENTRY_POINT_GROUP = "mesaprobe.tasks"

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def _check_task_class(obj, where: str) -> type[Task]:
    if not (isinstance(obj, type) and issubclass(obj, Task) and getattr(obj, "name", None)):
        raise UserError(f"{where} is not a mesaprobe task (a SearchTask or GoalTask subclass with a `name`)")
    return obj


def load_task_file(spec: str) -> type[Task]:
    """`path/to/file.py:ClassName` -> the class (the file is imported as a module of its own)."""
    path_str, _, class_name = spec.rpartition(":")
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise UserError(f"{spec}: no such file {path}")
    module_name = f"mesaprobe_user_task_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: a plugin that exits at import must not end the command quietly
        del sys.modules[module_name]
        raise UserError(f"{spec}: importing {path.name} failed ({type(exc).__name__}: {exc})") from None
    if not hasattr(module, class_name):
        raise UserError(f"{spec}: {path.name} defines no {class_name!r}")
    return _check_task_class(getattr(module, class_name), spec)


def plugin_tasks() -> dict[str, type[Task]]:
    """Tasks other packages register under the `mesaprobe.tasks` entry point group."""
    from importlib.metadata import entry_points

    out = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            out[ep.name] = _check_task_class(ep.load(), f"entry point {ep.name} ({ep.value})")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (even one that exits) must not break the built-in tasks
            print(f"warning: skipping task entry point {ep.name}: {exc}", file=sys.stderr)
    return out


def all_tasks() -> dict[str, type[Task]]:
    """Built-in tasks and entry-point plugins, by name."""
    return plugin_tasks() | dict(REGISTRY)


def task_class(name: str) -> type[Task]:
    if name.endswith(".py") or ".py:" in name:
        if ":" not in name:
            raise UserError(f"{name}: name the class too, as path/to/file.py:ClassName")
        return load_task_file(name)
    known = REGISTRY if name in REGISTRY else all_tasks()
    if name not in known:
        raise UserError(f"unknown task {name!r}; known tasks: {', '.join(sorted(known))} "
                        "(or path/to/file.py:ClassName)")
    return known[name]


def get_task(name: str, **params: int) -> Task:
    """A task by registered name or `path/to/file.py:ClassName`, with validated parameters."""
    task = task_class(name)(**params)
    task.spec = name
    return task


__all__ = ["REGISTRY", "all_tasks", "get_task", "task_class", "Task", "TargetSpec", "Instance"]
