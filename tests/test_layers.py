"""Layers one way, tasks <- models <- probes <- reports (cli, api and demo on top), counting imports made inside
functions too; no import cycles. Inside models/ the rooms are layers too: building and loading (models/*.py) <-
rollouts/ <- subjects/ <- training/."""
import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
LAYERS = ["tasks", "models", "models.rollouts", "models.subjects", "models.training", "probes", "reports"]
ROOMS = ("rollouts", "subjects", "training")  # the packages inside models/


def imports():
    graph = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", "benchmarks", "experiments") or any(p.startswith(".") for p in rel.parts):
            continue
        module = ".".join(("mesaprobe",) + rel.with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mesaprobe"):
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("mesaprobe")}
        graph[module] = found
    modules = set(graph)
    resolve = lambda name: next((n for n in (name, name.rpartition(".")[0]) if n in modules), None)
    return {m: {t for t in map(resolve, found) if t and t not in (m, "mesaprobe")} for m, found in graph.items()}


def layer(module):
    parts = module.split(".")[1:]
    part = ".".join(parts[:2]) if parts[:1] == ["models"] and parts[1:2] and parts[1] in ROOMS else ".".join(parts[:1])
    return LAYERS.index(part) if part in LAYERS else None


def test_every_room_is_a_layer():
    """A new package under models/ is placed in LAYERS before it can hide an upward import."""
    rooms = {p.parent.name for p in (ROOT / "models").glob("*/__init__.py")}
    assert rooms == set(ROOMS)


def test_rooms_are_ordered():
    assert layer("mesaprobe.models.tiny") < layer("mesaprobe.models.rollouts.tiny") < layer(
        "mesaprobe.models.subjects.subject") < layer("mesaprobe.models.training.ppo") < layer("mesaprobe.probes.run")


def test_no_import_reaches_up_a_layer():
    upward = [(m, t) for m, ts in imports().items() for t in ts
              if layer(m) is not None and layer(t) is not None and layer(t) > layer(m)]
    assert upward == []


def test_no_import_cycles():
    graph = imports()
    state = {}

    def visit(m, path):
        state[m] = "open"
        for t in graph.get(m, ()):
            assert state.get(t) != "open", " -> ".join(path + [t])
            if t not in state:
                visit(t, path + [t])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_every_import_names_a_module_that_exists():
    """An import of a moved or renamed module fails here, even inside a function that no test calls."""
    names = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if not any(p.startswith(".") for p in rel.parts):
            names.add(".".join(("mesaprobe",) + rel.with_suffix("").parts).removesuffix(".__init__"))
    missing = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if any(p.startswith(".") for p in rel.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            wanted = [node.module] if isinstance(node, ast.ImportFrom) and node.module else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            missing += [f"{rel}: {w}" for w in wanted if w.startswith("mesaprobe.") and w not in names]
    assert missing == []


def test_every_package_is_installed():
    """pyproject.toml lists its packages by hand: a new package missing there would be absent from a wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(("mesaprobe",) + p.parent.relative_to(ROOT).parts) for p in ROOT.rglob("__init__.py")
             if p.parent.relative_to(ROOT).parts[:1] not in (("tests",), ("benchmarks",), ("experiments",))
             and not any(part.startswith(".") or part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)}
    assert found == listed
