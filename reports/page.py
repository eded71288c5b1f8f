"""The furniture of a report page: plotly.js written once beside the pages, what a page copied alone says, the table
of contents and folding sections."""
from __future__ import annotations

import html
from pathlib import Path

TOC_MARK = "<!-- toc -->"
PLOTLY_FILE = "plotly.min.js"
# said on the page where the shared script is not beside it (a page copied alone)
MISSING_JS = ("<script>if(!window.Plotly){document.body.insertAdjacentHTML('afterbegin','<p class=\"note\">The "
              "figures need plotly.min.js beside this page (mesaprobe report writes it there).</p>')}</script>")


def plotly_script(out: Path) -> str:
    """Write plotly.js beside `out` once (every report in a folder shares it; rewritten where it differs) and
    return the tag that loads it: a single-run page stays far under 1 MB, and works offline."""
    import plotly.offline

    from mesaprobe.fsutil import atomic_write_text

    code, path = plotly.offline.get_plotlyjs(), Path(out).parent / PLOTLY_FILE
    if not path.is_file() or path.read_text(errors="replace") != code:
        atomic_write_text(path, code)
    return f'<script src="{PLOTLY_FILE}"></script>'


def slug(heading: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in heading.lower()).strip("-")


def details(summary: str, inner: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>{inner}</details>"


def toc(page: str) -> str:
    """Links to every h2 with an id, in page order."""
    import re

    items = re.findall(r"<h2 id='([^']+)'>(.*?)</h2>", page)
    return ("<nav class='toc'><b>Contents</b><ul>" + "".join(f"<li><a href='#{i}'>{t}</a></li>" for i, t in items)
            + "</ul></nav>") if items else ""
