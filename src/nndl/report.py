"""One static HTML page over an experiments' output folder.

``nndl report [OUT]`` reads every ``OUT/<experiment>/results.json`` written
by ``nndl experiment run`` and writes ``OUT/index.html``: for each experiment
its table against the book, the comparisons, its figures, its settings,
seeds and wall time. The page is self-contained and readable offline: no
scripts or styles from elsewhere; figures are referenced by relative paths
(``<experiment>/<figure>.png``, so the folder can be moved or zipped as a
whole) or, with ``embed=True``, inlined as base64 data so the page is a
single file.

A few lines of inline JavaScript check, once the page has loaded, that every
image decoded (``naturalWidth > 0``); broken images are outlined in red and
counted in the status line at the top (``#image-status``), which a headless
browser's DOM dump shows. Experiments of the registry with no results yet
are listed as "not run", so a missing one is visible.
"""

from __future__ import annotations

import base64
import html
import json
import time
from pathlib import Path

from ._io import atomic_write_text

__all__ = ["build_report", "collect_results"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 1em 2em; color: #1d1d1f; line-height: 1.4; }
h1 { margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 2px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; font-size: 14px; width: 100%; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.pass { background: #e5f6e5; } td.fail { background: #fde3e1; } td.info { background: #f5f5f5; }
.book { color: #555; font-style: italic; }
figure { display: inline-block; margin: .5em 1em .5em 0; max-width: 100%; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #444; max-width: 640px; }
img.broken { outline: 4px solid #d00; min-width: 60px; min-height: 40px; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: 12px; }
.muted { color: #666; font-size: 13px; } .notrun { color: #a60; }
#image-status { font-size: 13px; }
p.fail, span.fail { color: #b00; font-weight: bold; }
ul.comparisons li { margin-bottom: .3em; }
"""

# Marks broken images and reports how many loaded; runs after every image settled.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0, bad = [];
  for (var i = 0; i < imgs.length; i++) {
    var im = imgs[i];
    if (im.complete && im.naturalWidth > 0) { ok++; im.setAttribute("data-loaded", "yes"); }
    else { bad.push(im.getAttribute("src").slice(0, 80)); im.className += " broken";
           im.setAttribute("data-loaded", "no"); }
  }
  var s = document.getElementById("image-status");
  s.textContent = "images: " + ok + " loaded, " + bad.length + " broken" +
                  (bad.length ? " (" + bad.join(", ") + ")" : "");
  s.setAttribute("data-loaded", String(ok));
  s.setAttribute("data-broken", String(bad.length));
  document.body.setAttribute("data-report-ready", "yes");
});
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def collect_results(folder) -> dict[str, dict]:
    """{name: results} for every ``<folder>/<name>/results.json`` that parses.

    Files that cannot be read are reported as {"unreadable": message} so the page
    shows them instead of silently leaving them out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"results folder {str(folder)!r} does not exist or is not a folder")
    found: dict[str, dict] = {}
    for path in sorted(folder.glob("*/results.json")):
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(res, dict) or "checks" not in res:
                raise ValueError("not an experiment's results file")
        except (OSError, ValueError) as exc:
            res = {"unreadable": f"cannot read {path.name}: {exc}", "name": path.parent.name}
        found[path.parent.name] = res
    return found


def _order(found: dict) -> list[str]:
    from .experiments import EXPERIMENTS

    known = [n for n in EXPERIMENTS if n in found]
    return known + sorted(n for n in found if n not in EXPERIMENTS)


def _verdict_cell(check: dict) -> str:
    passed = check.get("passed")
    cls = "info" if passed is None else ("pass" if passed else "fail")
    return f'<td class="{cls}">{_e(check.get("verdict"))}</td>'


def _img_src(folder: Path, name: str, file: str, embed: bool) -> str:
    rel = f"{name}/{file}"
    if not embed:
        return rel
    path = folder / name / file
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return rel  # left as a link: the page's check will mark it broken
    return f"data:image/png;base64,{data}"


def _num(value, unit: str) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}%" if unit == "%" else f"{value:.4g}"


def _metrics_table(metrics: dict) -> str:
    """Every recorded number: mean over the seeds, spread and 95% CI (collapsed)."""
    if not metrics:
        return ""
    rows = [
        "<details><summary>Every number (mean over the seeds, standard deviation, "
        "95% confidence interval)</summary><table class='metrics'>"
        "<tr><th>metric</th><th>mean</th><th>sd</th><th>95% CI</th><th>n</th></tr>"
    ]
    for key, m in metrics.items():
        unit = m.get("unit", "")
        sd = m.get("std")
        sd_txt = "-" if sd is None else (f"{100 * sd:.2f}" if unit == "%" else f"{sd:.3g}")
        ci = m.get("ci95")
        ci_txt = "-" if not ci else f"{_num(ci[0], unit)} to {_num(ci[1], unit)}"
        rows.append(
            f"<tr><td>{_e(m.get('label', key))}</td><td>{_e(_num(m.get('mean'), unit))}</td>"
            f"<td>{_e(sd_txt)}</td><td>{_e(ci_txt)}</td><td>{_e(m.get('n'))}</td></tr>"
        )
    rows.append("</table></details>")
    return "\n".join(rows)


def _section(folder: Path, name: str, res: dict, embed: bool) -> str:
    if "unreadable" in res:
        return (
            f'<section id="{_e(name)}" class="experiment" data-name="{_e(name)}">'
            f"<h2>{_e(name)}</h2><p class='fail'>{_e(res['unreadable'])}</p></section>"
        )
    out = [f'<section id="{_e(name)}" class="experiment" data-name="{_e(name)}">']
    quick = " (quick run: not judged against the book)" if res.get("quick") else ""
    if res.get("error"):
        quick += f" <span class='fail'>FAILED, partial results: {_e(res['error'])}</span>"
    out.append(
        f"<h2>{_e(res.get('title', name))} <span class='muted'>[{_e(name)}]{quick}</span></h2>"
    )
    book = res.get("config", {}).get("book")
    if book:
        out.append(f"<p class='book'>The book: {_e(book)}</p>")
    out.append(
        f"<p class='muted'>Wall time {res.get('wall_time_s', 0):.1f} s; seeds "
        f"{_e(res.get('seeds'))}; data {_e(res.get('data') or 'none')}; finished "
        f"{_e(res.get('finished'))}.</p>"
    )
    out.append("<table><tr><th>result</th><th>ours</th><th>book</th><th>verdict</th></tr>")
    for c in res.get("checks", []):
        out.append(
            f"<tr><td>{_e(c.get('label'))}</td><td>{_e(c.get('ours'))}</td>"
            f"<td>{_e(c.get('book'))}</td>{_verdict_cell(c)}</tr>"
        )
    out.append("</table>")
    comps = res.get("comparisons", [])
    if comps:
        out.append(
            "<p><b>Comparisons</b> (Welch t-test over the seeds):</p><ul class='comparisons'>"
        )
        out += [f"<li><b>{_e(c.get('label'))}</b>: {_e(c.get('verdict'))}</li>" for c in comps]
        out.append("</ul>")
    for note in res.get("notes", []):
        out.append(f"<p class='muted'>Note: {_e(note)}</p>")
    for fig in res.get("figures", []):
        src = _img_src(folder, name, fig.get("file", ""), embed)
        cap = fig.get("caption", "")
        out.append(
            f'<figure><img src="{_e(src)}" alt="{_e(cap or fig.get("file"))}" loading="eager">'
            f"<figcaption>{_e(cap)}</figcaption></figure>"
        )
    out.append(_metrics_table(res.get("metrics", {})))
    settings = {
        "settings": res.get("settings"),
        "config": {k: v for k, v in res.get("config", {}).items() if k != "book"},
        "environment": res.get("environment"),
    }
    out.append(
        "<details><summary>Settings, seeds and environment</summary><pre>"
        f"{_e(json.dumps(settings, indent=1))}</pre></details>"
    )
    out.append("</section>")
    return "\n".join(out)


def links_work(folder, output) -> bool:
    """Whether a page written at ``output`` can link the figures of ``folder`` relatively."""
    return Path(output).resolve().parent == Path(folder).resolve()


def build_report(folder, output=None, *, embed: bool = False, title: str | None = None) -> Path:
    """Write the HTML page for a results folder; return its path.

    Parameters
    ----------
    folder : path
        The ``--out`` folder of ``nndl experiment run``.
    output : path, optional
        Where to write the page (default ``folder/index.html``). With relative
        image links the page must stay beside the experiment folders; use
        ``embed=True`` to write it anywhere.
    embed : bool
        Inline the figures as base64 data (one self-contained file).
    """
    from .experiments import EXPERIMENTS

    folder = Path(folder)
    found = collect_results(folder)
    output = Path(output) if output is not None else folder / "index.html"
    if not embed and not links_work(folder, output):
        raise ValueError(
            f"the page links its figures relatively, so it must be written inside {folder} "
            f"(got {output}); pass embed=True to write a self-contained page elsewhere"
        )
    summary = {}
    spath = folder / "summary.json"
    if spath.is_file():
        try:
            summary = json.loads(spath.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
    title = title or "nndl: the chapter's experiments against the book"
    names = _order(found)
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted'>Generated {_e(time.strftime('%Y-%m-%d %H:%M:%S'))} from "
        f"{_e(folder.resolve())}. {len(names)} experiment(s) with results.</p>",
        '<p id="image-status" class="muted">images: not checked yet (JavaScript off?)</p>',
    ]
    total = sum(r.get("wall_time_s", 0) or 0 for r in found.values() if "unreadable" not in r)
    if summary.get("wall_time_s"):
        head.append(
            f"<p>Last <code>nndl experiment run</code> "
            f"({len(summary.get('experiments', []))} experiment(s)): "
            f"{summary['wall_time_s']:.0f} s ({summary['wall_time_s'] / 60:.1f} min) in all, "
            f"finished {_e(summary.get('finished'))}.</p>"
        )
    head.append(
        "<table id='summary'><tr><th>experiment</th><th>verdicts</th><th>wall time</th>"
        "<th>seeds</th></tr>"
    )
    for name in names:
        res = found[name]
        if "unreadable" in res:
            why = _e(res["unreadable"])
            head.append(f"<tr><td>{_e(name)}</td><td class='fail' colspan='3'>{why}</td></tr>")
            continue
        checks = res.get("checks", [])
        npass = sum(c.get("passed") is True for c in checks)
        nfail = sum(c.get("passed") is False for c in checks)
        nother = len(checks) - npass - nfail
        cls = "fail" if nfail or res.get("error") else ("pass" if npass else "info")
        quick = " (quick)" if res.get("quick") else ""
        if res.get("error"):
            quick += " (failed: partial results)"
        head.append(
            f"<tr><td><a href='#{_e(name)}'>{_e(res.get('title', name))}</a>{quick}</td>"
            f"<td class='{cls}'>{npass} pass, {nfail} fail, {nother} measured or not judged</td>"
            f"<td>{res.get('wall_time_s', 0):.1f} s</td><td>{_e(res.get('seeds'))}</td></tr>"
        )
    missing = [n for n in EXPERIMENTS if n not in found]
    for name in missing:
        why = summary.get("unavailable", {}).get(name) or summary.get("errors", {}).get(name)
        head.append(
            f"<tr><td>{_e(name)}</td><td class='notrun' colspan='3'>not run"
            f"{': ' + _e(why) if why else ''}</td></tr>"
        )
    head.append(f"</table><p class='muted'>Sum of the experiments' wall times: {total:.0f} s.</p>")
    body = [_section(folder, n, found[n], embed) for n in names]
    tail = [f"<script>{_SCRIPT}</script>", "</body></html>"]
    atomic_write_text(output, "\n".join(head + body + tail) + "\n")
    return output
