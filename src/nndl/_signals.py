"""The signals that ask a run to stop, and holding them off while files are written.

A user stops a run with Ctrl-C (SIGINT), a service manager or a batch
system with SIGTERM, and a terminal that closes sends SIGHUP. nndl treats
the three alike (SIGHUP where the platform has it): training stops after
the mini-batch under way (:meth:`nndl.training.Trainer.interrupt_on_signals`)
and the command exits with the shells' status for the signal, 128 plus its
number (130, 143, 129). While the run's files are written
(:func:`signals_held`) the signals are recorded instead of acted on, so a
second Ctrl-C cannot leave a run without its model.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading

__all__ = [
    "STOP_SIGNALS",
    "StopSignal",
    "exit_status",
    "signal_name",
    "signals_held",
    "silence_hung_up_terminal",
    "stop_signal_handler",
    "stop_signals_interrupt",
]

#: The signals that ask a run to stop, those this platform has.
STOP_SIGNALS: tuple[int, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def exit_status(signum: int) -> int:
    """The exit status of a command stopped by ``signum``: 128 + its number, as shells say."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15; the number itself for a signal this platform does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@contextlib.contextmanager
def stop_signal_handler(handler, signals=STOP_SIGNALS):
    """While active, ``handler(signum, frame)`` handles ``signals``; then the previous ones.

    A signal this process ignores stays ignored: ``nohup nndl ...`` starts
    it with SIGHUP ignored, so that a closed terminal does not stop the run.
    Signal handlers can be installed only in the main thread; elsewhere
    nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for signum in signals:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue
            previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, old in previous.items():
            # None: a handler not installed from Python; the default is the closest.
            signal.signal(signum, signal.SIG_DFL if old is None else old)


@contextlib.contextmanager
def signals_held(notify=None, *, signals=STOP_SIGNALS, deliver: bool = True):
    """Record the stop signals that arrive in the block instead of acting on them.

    For blocks that write files which belong together (a run's model,
    history and results): none of them is left unwritten because a signal
    came in between. Yields the list of the signal numbers received, first
    first. ``notify(signum)`` is called for the first. On leaving the block
    the previous handlers return and, with ``deliver``, the first signal
    received is sent again, so it acts as it would have (a KeyboardInterrupt
    for SIGINT); without it the caller answers them itself (the command line
    exits with :func:`exit_status`).
    """
    received: list[int] = []

    def handler(signum, frame):
        received.append(signum)
        if notify is not None and len(received) == 1:
            notify(signum)

    with stop_signal_handler(handler, signals):
        yield received
    if deliver and received:
        signal.raise_signal(received[0])


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C raises KeyboardInterrupt: code that keeps
    what finished on Ctrl-C keeps it on these too. ``signum`` is the signal's number."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum


def silence_hung_up_terminal() -> None:
    """Send stdout and stderr to /dev/null where they are a terminal that hung up.

    After SIGHUP (the terminal closed) every write to it fails; without this
    the first message would stop a run before it has written its files.
    """
    for fd in (1, 2):
        try:
            dead = stat.S_ISCHR(os.fstat(fd).st_mode) and not os.isatty(fd)
        except OSError:
            continue
        if dead:  # a terminal hung up (or /dev/null already)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)


@contextlib.contextmanager
def stop_signals_interrupt(signals=STOP_SIGNALS):
    """While active, SIGTERM and SIGHUP raise :class:`StopSignal` as Ctrl-C raises
    KeyboardInterrupt (SIGINT keeps Python's own handler).

    A command then stops on them as on Ctrl-C, keeping what finished, and
    exits with 128 plus the signal's number; code that answers a signal
    itself (``nndl train`` stops after the mini-batch) installs its own
    handlers inside the block.
    """
    sigint = getattr(signal, "SIGINT", None)

    def handler(signum, frame):
        if signum == getattr(signal, "SIGHUP", None):
            silence_hung_up_terminal()
        raise StopSignal(signum)

    with stop_signal_handler(handler, tuple(s for s in signals if s != sigint)):
        yield
