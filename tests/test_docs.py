"""Docs, README, docstrings and comments name files that exist: a path like `probes/run.py` or
`benchmarks/probe_speed.json` in any of them must be in the repository (so a move or a rename cannot leave a stale
reference), and code never cites the original design notes by their file name (the design is docs/design.md; the
notes beside the repository are not shipped)."""
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
SKIP = {".venv", ".git", "demo-out", "experiments/out"}
PATH = re.compile(r"(?<![\w./$-])((?:\.\./)?[A-Za-z_][\w.-]*/[\w./-]*\.(?:py|md|json|sh|csv|yaml|toml|html))\b")
# where a path names something the reader makes, not a file of this repository
MADE = re.compile(r"^(RUN|OUT|SWEEP|MODEL|path/to|my_|runs?/|models?/argmax|cells/|demo-out|\.\./|m/|r/|d/|c/|data/)")


def text_files():
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if path.suffix in (".py", ".md", ".sh") and not any(rel.startswith(s) for s in SKIP) and path.is_file():
            yield rel, path.read_text()


NOTES = "DESIGN" + ".md"  # spelt apart so that this file does not cite it either


def test_no_code_cites_the_design_notes():
    assert [rel for rel, text in text_files() if rel.endswith(".py") and NOTES in text] == []


def test_named_paths_exist():
    missing = set()
    for rel, text in text_files():
        if rel == "tests/test_docs.py":
            continue
        for name in PATH.findall(text):
            name = name.rstrip(".")
            if MADE.match(name) or "*" in name or "{" in name:
                continue
            name = name.removeprefix("mesaprobe/")  # the repository root is the package
            if not (ROOT / name).exists() and not (ROOT / Path(rel).parent / name).exists():
                missing.add(f"{rel}: {name}")
    assert sorted(missing) == []
