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


def test_the_benchmarks_page_shows_short_lists_rounded_and_leaves_cut_off_lists_to_the_json(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "benchmarks" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    rows = [{"seed": 0, "runs": [14.7234, 12.5], "curve": [0.123456] * 40}, {"seed": 1, "runs": [1.0, 2.0]}]
    (tmp_path / "b.json").write_text(__import__("json").dumps({"rows": rows}))
    page = "\n".join(report.section(tmp_path / "b.json"))
    assert "| seed | runs |" in page and "| 0 | [14.72, 12.5] |" in page
    assert "(left out here, in the JSON: curve)" in page and "0.1235" not in page
