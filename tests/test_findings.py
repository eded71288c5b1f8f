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


def test_every_number_in_the_readmes_headline_is_on_the_findings_page():
    import re

    readme = (ROOT / "README.md").read_text()
    headline = readme.split("<!-- headline")[1].split("<!-- /headline -->")[0].split("-->", 1)[1]
    page = (ROOT / "docs" / "findings.md").read_text()
    numbers = re.findall(r"-?\d+\.\d+", headline)
    assert numbers and [n for n in numbers if n not in page] == []
