"""The second process of a background job (see :mod:`~nndl.experiments.background`).

Run as ``python -m nndl.experiments.background_worker MODULE:FUNCTION KWARGS``:
imports the function, calls it with the keyword arguments given as JSON, and
writes its result as JSON on the last line of standard output (the function
may print before it). An exception ends the process with a traceback on
standard error and a nonzero exit status.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(argv: list[str] | None = None) -> None:
    target, kwargs = sys.argv[1:] if argv is None else argv
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    result = function(**json.loads(kwargs))
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
