"""Print the README's table of settings, or update it in place.

    python scripts/settings-table.py            # print the table
    python scripts/settings-table.py --readme   # rewrite it in README.md

The table is generated from ``nndl.settings.SETTINGS``; tests/test_settings.py
fails when README.md and the schema disagree.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nndl._io import atomic_write_text
from nndl.settings import markdown_table

BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help=f"rewrite the table in {README}")
    args = parser.parse_args()
    table = markdown_table()
    if not args.readme:
        print(table)
        return
    text = README.read_text(encoding="utf-8")
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise SystemExit(f"{README}: no {BEGIN} ... {END} markers")
    atomic_write_text(README, text[: begin + len(BEGIN)] + "\n" + table + "\n" + text[end:])
    print(f"updated the settings table in {README}")


if __name__ == "__main__":
    main()
