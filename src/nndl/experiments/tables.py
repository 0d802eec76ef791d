"""The printed table of one experiment: our result, the book's, and the verdict.

:func:`format_value` writes one number (fractions as percentages),
:func:`format_statistics` a metric over several seeds (mean, spread and 95%
confidence interval), and :func:`format_table` the whole summary of a
``results.json``: one row per verdict, one line per comparison, then the
seeds, the data and the wall time.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

__all__ = ["format_statistics", "format_table", "format_value"]


def format_value(value, unit: str = "") -> str:
    """One number for the table: fractions as percent when ``unit == '%'``."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if unit == "%":
        return f"{100 * value:.2f}%"
    if isinstance(value, (int, np.integer)):
        return f"{value:d}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4g}"


def format_statistics(stats: dict, unit: str) -> str:
    """A metric summarized over its seeds (see :func:`~.statistics.summarize`).

    One seed gives the value alone; several give the mean, the standard
    deviation and the 95% confidence interval of the mean.
    """
    if stats["n"] == 0:
        return "-"
    if stats["n"] == 1:
        return format_value(stats["mean"], unit)
    scale = 100.0 if unit == "%" else 1.0
    sd = stats["std"] * scale
    lo, hi = (format_value(x, unit) for x in stats["ci95"])
    spread = f"{sd:.2f}" if unit == "%" else f"{sd:.3g}"
    return f"{format_value(stats['mean'], unit)} ± {spread} (95% CI {lo} to {hi}, n={stats['n']})"


def _wrap_rows(rows: list[list[str]], widths: list[int]) -> list[str]:
    """Rows of cells as lines of text, each cell wrapped to its column's width."""
    lines = []
    for row in rows:
        cells = [textwrap.wrap(c, w) or [""] for c, w in zip(row, widths, strict=True)]
        for i in range(max(len(c) for c in cells)):
            parts = [
                (c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())
    return lines


def format_table(res: dict, width: int = 120) -> str:
    """The printed summary of one experiment: verdicts, comparisons, wall time."""
    head = f"== {res['name']}: {res['title']}"
    if res.get("error"):
        head += f" [FAILED, partial results: {res['error']}]"
    if res.get("quick"):
        head += " [quick run: not judged against the book]"
    lines = [head]
    w = [34, 30, 14, max(20, width - 34 - 30 - 14 - 6)]
    rows = [["result", "ours", "book", "verdict (tolerance)"]]
    rows += [[c["label"], c["ours"], c["book"], c["verdict"]] for c in res["checks"]]
    lines += _wrap_rows(rows, w)
    for comp in res.get("comparisons", []):
        lines += _wrap_rows([[f"- {comp['label']}: {comp['verdict']}"]], [width])
    seeds = res.get("seeds", [])
    lines.append(
        f"   seeds {seeds}, data {res.get('data')}, wall time {res['wall_time_s']:.1f} s; "
        f"{len(res.get('figures', []))} figure(s) in {Path(res['settings']['out']) / res['name']}"
    )
    return "\n".join(lines)
