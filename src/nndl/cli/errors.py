"""Exit statuses and the one-line error messages of the ``nndl`` commands.

Expected errors (bad options or files, divergence, failed downloads) end a
command with one line on stderr and a non-zero exit status;
``NNDL_DEBUG=1`` shows the traceback instead. A command stopped by a signal
exits as shells report it, with 128 plus the signal's number: 130 for Ctrl-C
(SIGINT), 143 for SIGTERM, 129 for SIGHUP.
"""

from __future__ import annotations

import functools

import click

from .._signals import StopSignal, exit_status, signal_name
from ..limits import MAX_MESSAGE_CHARS, clip
from ..training import DivergenceError

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "expected_errors",
    "interrupted_status",
    "one_line",
    "report_errors",
    "resource_message",
    "stopped_status",
]

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def stopped_status(signals) -> int:
    """The exit status of a command that these signals (numbers, first first) stopped.

    128 plus the first one's number; :data:`EXIT_INTERRUPTED` when there is
    none (a KeyboardInterrupt raised by code, not by a signal).
    """
    return exit_status(signals[0]) if signals else EXIT_INTERRUPTED


def interrupted_status(exc: BaseException) -> tuple[int, str]:
    """The exit status and the word for a command that ``exc`` (a KeyboardInterrupt, or
    click's Abort raised from one) stopped: 143 and "stopped by SIGTERM" when a
    :class:`~nndl._signals.StopSignal` is in its chain, else 130 and "interrupted"."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, StopSignal):
            return exit_status(exc.signum), f"stopped by {signal_name(exc.signum)}"
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return EXIT_INTERRUPTED, "interrupted"


def expected_errors() -> tuple[type[BaseException], ...]:
    """The library's clear errors: their message is all the user needs to read.

    Called in ``except`` clauses, which Python evaluates only when an
    exception is raised, so the data package is imported only then.
    """
    from ..data import FetchError

    return (ValueError, TypeError, OSError, ImportError, DivergenceError, FetchError)


def one_line(text: str) -> str:
    """``text`` with its line breaks and runs of spaces folded into single spaces, cut to
    :data:`nndl.limits.MAX_MESSAGE_CHARS` characters (a message may quote a huge input)."""
    return clip(" ".join(str(text).split()), MAX_MESSAGE_CHARS)


def resource_message(exc: BaseException) -> str:
    """One line for a MemoryError or RecursionError that no check caught before it."""
    detail = f" ({one_line(exc)})" if str(exc) else ""
    if isinstance(exc, RecursionError):
        return f"an input is nested too deeply to process{detail}"
    return (
        f"out of memory{detail}: the data, the network or an input file is too large for "
        f"this machine"
    )


def report_errors(fn):
    """Turn the library's clear errors into click errors: one line and exit status 1.

    For commands that may also be invoked outside :func:`nndl.cli.main` (by
    click's test runner, or in another click group).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except expected_errors() as exc:
            raise click.ClickException(clip(str(exc), MAX_MESSAGE_CHARS)) from exc

    return wrapper
