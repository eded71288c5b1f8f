"""The HTML report in a real headless Chromium (Debian's package): it renders offline from file://, logs no console
errors, makes no network request, is not blank, and shows markup in task strings as text."""
import json
import shutil
import struct
import subprocess
import zlib

import pytest

from mesaprobe.reports.html import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not __import__("os").environ.get("CI"),
                                reason="chromium not installed (.ci/run installs it; CI never skips)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-quic"]
EVIL = "<script>document.title='pwned'</script>"


def chromium(tmp_path, *args):
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def page_requests(tmp_path, page) -> set[str]:
    """URLs the page itself asked for (Chromium's net log; the browser's own services have no page initiator)."""
    net_log = tmp_path / f"net-{page.stem}.json"
    run = chromium(tmp_path, f"--log-net-log={net_log}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    events = json.loads(net_log.read_text())["events"]
    return {e["params"]["url"] for e in events if "url" in e.get("params", {})} & {
        u for e in events for u in [e.get("params", {}).get("url")]
        if u and any(x.get("params", {}).get("initiator") not in (None, "not an origin")
                     for x in events if x["source"]["id"] == e["source"]["id"])}


def png_pixels(path):
    """Decode an 8-bit RGB(A) PNG (what Chromium writes) into rows of bytes, no imaging library needed."""
    data = path.read_bytes()
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        chunks.append(body) if kind == b"IDAT" else None
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    channels = {2: 3, 6: 4}[color]
    raw, stride, rows, prev = zlib.decompress(b"".join(chunks)), width * channels, [], bytearray(width * channels)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            p = a + b - c
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2,
                    4: a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else (b if abs(p - b) <= abs(p - c) else c)}[f]
            line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return rows, channels


@pytest.fixture(scope="module")
def evil_run(argmax_run, tmp_path_factory):
    """The real argmax run, with markup planted in a target name and the run's directory name."""
    src, results = argmax_run
    run = tmp_path_factory.mktemp("evil") / "run<img src=x onerror=alert(1)>"
    run.mkdir()
    results = json.loads(json.dumps(results))
    results["probes"][0]["target"] = EVIL
    results["task"]["name"] = EVIL
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_report_renders_offline_without_errors_or_requests(argmax_run, evil_run, tmp_path):
    page = write_report([argmax_run[0], evil_run], tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'class="main-svg"' in dom.stdout  # plotly ran and drew its figures
    console_errors = [l for l in dom.stderr.splitlines() if "CONSOLE" in l and ("Uncaught" in l or "Error" in l)]
    assert not console_errors, console_errors
    remote = [u for u in page_requests(tmp_path, page) if not u.startswith(("file:", "data:", "about:"))]
    assert not remote, remote
    # markup in task strings is text, never code
    assert "<title>pwned" not in dom.stdout and "&lt;script&gt;document.title" in dom.stdout
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", "--virtual-time-budget=5000",
                     page.as_uri())
    assert taken.returncode == 0 and shot.is_file()
    rows, channels = png_pixels(shot)
    distinct = {row[i : i + 3] for row in rows[::20] for i in range(0, len(row), channels * 20)}
    assert len(distinct) > 20  # text and plots, not a blank page


def test_the_request_check_catches_a_cdn_script(tmp_path):
    """Negative control: the same check flags a page that loads plotly from a CDN."""
    page = tmp_path / "cdn.html"
    page.write_text('<html><head><script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script></head>'
                    "<body>x</body></html>")
    assert any(u.startswith("https://cdn.plot.ly") for u in page_requests(tmp_path, page))


def test_skipped_causal_methods_are_shown_with_their_reason(argmax_run, tmp_path):
    """A method the subject could not run is named in the page with why, never silently absent; the page renders."""
    src, results = argmax_run
    results = json.loads(json.dumps(results))
    results["causal_skipped"] = [{"method": "interchange", "reason": "no counterfactual <inputs> here"}]
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results))
    page = write_report([run], tmp_path / "report.html")
    dom = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert dom.returncode == 0
    assert "Causal methods not run" in dom.stdout and "no counterfactual &lt;inputs&gt; here" in dom.stdout


def test_rule_transfer_is_said_in_words_with_its_table(argmax_run, tmp_path):
    src, results = argmax_run
    results = json.loads(json.dumps(results))
    results["rule_transfer"] = {"target": "running_best", "layers": [-1, 0, 1], "best_layer": 1,
                                "within": [0.1, 0.5, 0.9], "across": [0.0, 0.3, 0.8], "separate": [0.2, 0.2, 0.2],
                                "random_init_within": [0.0, -0.1, -0.2], "sharing": 0.857}
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results))
    page = write_report([run], tmp_path / "report.html")
    dom = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert dom.returncode == 0 and "One readout for every rule?" in dom.stdout
    assert "at R^2 0.80, against 0.90 within a rule and 0.20" in dom.stdout and "sharing 0.86" in dom.stdout


def sweep_rows():
    """Two methods x three K x two seeds; behaviour rises with K for sl only (a planted trend the figure shows)."""
    return [{"key": f"{m}{k}{s}", "method": m, "seed": s, "K": k, "behavior": (0.5 + 0.1 * k if m == "sl" else 0.5)
             + 0.01 * s, "search_index": 0.2, "search_index_lo": 0.1, "search_index_hi": 0.3, "goal_index": None,
             "verdict": "neither", "train_s": 1.0, "probe_s": 2.0}
            for m in ("sl", "rl") for k in (1, 2, 3) for s in (0, 1)]


@pytest.mark.trains
def test_sweep_report_renders_offline_with_a_figure_per_measure(tmp_path):
    from mesaprobe.reports.sweep import write_sweep_report

    page = write_sweep_report(["K"], sweep_rows(), tmp_path / "sweep.html", title=f"sweep: {EVIL}")
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= 2 * 2  # behaviour and search index (plotly draws 2 svgs each)
    console_errors = [l for l in dom.stderr.splitlines() if "CONSOLE" in l and ("Uncaught" in l or "Error" in l)]
    assert not console_errors, console_errors
    assert "<title>pwned" not in dom.stdout and "&lt;script&gt;document.title" in dom.stdout
    assert "neither x2" in dom.stdout  # the verdict table counts training seeds per cell
    remote = [u for u in page_requests(tmp_path, page) if not u.startswith(("file:", "data:", "about:"))]
    assert not remote, remote


def test_sweep_summary_is_the_mean_over_seeds_with_their_ci_or_one_seeds_own_ci():
    from mesaprobe.reports.sweep import knob_figure, summarize

    rows = [r for r in sweep_rows() if r["method"] == "sl" and r["K"] == 3]
    mean, lo, hi = summarize(rows, "behavior")
    assert mean == pytest.approx(0.805) and lo <= 0.8 <= 0.81 <= hi + 1e-9
    assert summarize(rows[:1], "search_index") == (0.2, 0.1, 0.3)
    assert summarize(rows, "goal_index") is None
    fig = knob_figure(sweep_rows(), ["K"], "K", "behavior", "behaviour")
    sl = next(t for t in fig.data if t.name == "sl")
    assert list(sl.x) == [1, 2, 3] and list(sl.y) == pytest.approx([0.605, 0.705, 0.805])


def test_a_method_knob_draws_one_line_across_the_methods():
    from mesaprobe.reports.sweep import knob_figure, verdict_table

    rows = [r for r in sweep_rows() if r["K"] == 1]
    fig = knob_figure(rows, ["method", "K"], "method", "behavior", "behaviour")
    assert [t.name for t in fig.data] == ["K=1"] and sorted(fig.data[0].x) == ["rl", "sl"]
    assert [list(r) for r in verdict_table(rows, ["method", "K"])][0] == ["method", "K", "verdicts"]



def test_a_single_run_page_is_small_opens_on_its_summary_figure_and_shares_plotly_js(argmax_run, tmp_path):
    first = write_report([argmax_run[0]], tmp_path / "one.html")
    second = write_report([argmax_run[0]], tmp_path / "two.html")
    assert first.stat().st_size < 1_000_000 and (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    assert second.read_text().count('<script src="plotly.min.js">') == 1  # one copy in the folder, for both pages
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", first.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    # the verdict, then the figure it rests on (drawn by plotly), then the contents; details fold away
    assert page.index("verdict") < page.index("What the verdict rests on") < page.index("Contents")
    assert page.index('class="main-svg"') < page.index("Contents") and "<details>" in page
    assert "href=\"#linear-probes\"" in page and "id=\"linear-probes\"" in page
    shot = tmp_path / "top.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", "--virtual-time-budget=5000",
                     first.as_uri())
    assert taken.returncode == 0
    rows, channels = png_pixels(shot)
    blue = sum(1 for row in rows[::4] for i in range(0, len(row), channels * 4)
               if row[i + 2] > 150 and row[i] < 100 and row[i + 1] < 150)  # the summary's bars, on the first screen
    assert blue > 200


def test_a_page_copied_without_its_script_says_so(argmax_run, tmp_path):
    page = write_report([argmax_run[0]], tmp_path / "a" / "report.html")
    alone = tmp_path / "b" / "report.html"
    alone.parent.mkdir()
    alone.write_text(page.read_text())
    dom = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", alone.as_uri())
    assert "The figures need plotly.min.js beside this page" in dom.stdout


def test_a_two_run_comparison_says_it_rests_on_one_model_a_side(argmax_run, tmp_path):
    from mesaprobe.reports.html import build_page

    _, res = argmax_run
    page = build_page([("a", res, {}), ("b", res, {})], "")
    assert "rests on one model a side" in page and "A difference here is no finding about the methods" in page
    one_seed = json.loads(json.dumps(res))
    one_seed["indices"]["search"]["by_seed"] = one_seed["indices"]["search"]["by_seed"][:1]
    assert "(one data seed: no CI)" in build_page([("a", one_seed, {})], "")


def test_heatmaps_share_one_colour_scale_and_curves_one_axis(argmax_run):
    from mesaprobe.reports import figures

    _, res = argmax_run
    heat = [f for t in {r["target"] for r in res["probes"]} if (f := figures.probe_heatmap("a", res, t))]
    heat += [f for f in figures.causal_figures([("a", res)]) if f.data and f.data[0].type == "heatmap"]
    assert heat and all((f.data[0].zmin, f.data[0].zmax) == (0, 1) for f in heat)
    assert len({f.data[0].colorscale for f in heat}) == 1 and all(f.layout.yaxis.dtick == 1 for f in heat)
    curves = [figures.probe_curve([("a", res)], t) for t in {r["target"] for r in res["probes"]}]
    assert all(c.layout.yaxis.range[1] == 1.02 and c.layout.yaxis.range[0] <= -0.02 for c in curves)
