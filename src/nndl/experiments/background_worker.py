"""The second process of a background job (see :mod:`~nndl.experiments.background`).

Run as ``python -m nndl.experiments.background_worker MODULE:FUNCTION KWARGS``:
imports the function, calls it with the keyword arguments given as JSON, and
writes its result as JSON on the last line of standard output (the function
may print before it). Each warning the function gives is written on standard
error as one line, ``WARNING_PREFIX`` and the message, for the caller to
show. An exception ends the process with a traceback on standard error and a
nonzero exit status.
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings

from nndl.experiments.background import WARNING_PREFIX


def main(argv: list[str] | None = None) -> None:
    target, kwargs = sys.argv[1:] if argv is None else argv
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # recorded (each once), not raised
        result = function(**json.loads(kwargs))
    for w in caught:
        message = " ".join(str(w.message).split())  # one line
        sys.stderr.write(f"{WARNING_PREFIX}{w.category.__name__}: {message}\n")
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
