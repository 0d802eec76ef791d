"""``python -m nndl.cli``: the ``nndl`` command."""

from . import main

main()
