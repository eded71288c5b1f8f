"""Layers one way, tasks <- models <- probes <- reports (cli, api and demo on top), counting imports made inside
functions too; no import cycles."""
import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
LAYERS = ["tasks", "models", "probes", "reports"]


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
    part = module.split(".")[1] if module.count(".") else ""
    return LAYERS.index(part) if part in LAYERS else None


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
