"""docs/findings.md and docs/benchmarks.md are generated from committed results alone: regenerating them gives the
committed pages byte for byte (run `python experiments/findings.py` / `python benchmarks/report.py` after committing
new results)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_findings_page_regenerates_identically_from_the_committed_results():
    spec = importlib.util.spec_from_file_location("findings", ROOT / "experiments" / "findings.py")
    findings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(findings)
    assert findings.render() == (ROOT / "docs" / "findings.md").read_text()


def test_the_benchmarks_page_regenerates_identically_from_the_committed_json():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    assert report.render() == (ROOT / "docs" / "benchmarks.md").read_text()
