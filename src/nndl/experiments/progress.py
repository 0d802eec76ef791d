"""Progress of a run of experiments: what is training, and how long the whole run has left.

The work of a run is measured in example-epochs: a configuration that trains
``epochs`` epochs on ``examples`` examples is ``epochs * examples`` of work.
Each experiment module may say in advance what it will train
(``training_plan(experiment)``: ``(configuration, epochs, examples)`` per seed),
so the time left for the whole run is the planned work not yet done divided
by the rate measured so far (example-epochs per second of training).

Two displays:

- on a terminal, one line redrawn in place after every epoch: the
  experiment, the configuration and its seed, ``epoch k/N``, a bar over the
  whole run, the time spent and the estimate of the time left; when jobs
  train at once (:mod:`nndl.jobs`), also how many are training and how many
  are done, and the rate is that of all of them together;
- elsewhere (a log, a pipe), one plain line per finished configuration with
  the time spent and the estimate of the time left.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

__all__ = ["PlannedTraining", "RunProgress", "format_duration"]


@dataclass(frozen=True)
class PlannedTraining:
    """One configuration an experiment will train (once per seed)."""

    label: str
    epochs: int
    examples: int

    @property
    def work(self) -> int:
        return int(self.epochs) * int(self.examples)


def format_duration(seconds: float) -> str:
    """``0:42``, ``12:05`` or ``1:02:09``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RunProgress:
    """Shows the progress of a run of experiments on ``stream`` (default stderr).

    Parameters
    ----------
    stream : text stream
    terminal : bool, optional
        Redraw one line in place (True) or print plain lines (False); by
        default whether ``stream`` is a terminal.
    clock : callable
        Seconds, for tests.
    width : int, optional
        The width of the redrawn line (default: the terminal's).
    """

    BAR_WIDTH = 12

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        terminal: bool | None = None,
        clock=time.perf_counter,
        width: int | None = None,
    ):
        self.stream = stream if stream is not None else sys.stderr
        if terminal is None:
            isatty = getattr(self.stream, "isatty", None)
            terminal = bool(isatty and isatty())
        self.terminal = terminal
        self.clock = clock
        self.width = width
        self.planned: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.finished: set[str] = set()
        self.order: list[str] = []
        #: Trainings under way, by key: one at a time in a sequential run,
        #: several when jobs train at once.
        self._running: dict = {}
        self._latest = None
        #: How many trainings ended so far.
        self.trainings_done = 0
        #: Wall seconds during which at least one training ran.
        self._busy = 0.0
        self._busy_since: float | None = None
        self._t0 = clock()
        self._shown = False
        # Jobs report their epochs from a listener thread; a lock keeps the
        # counts and the redrawn line whole.
        self._lock = threading.RLock()

    # ------------------------------------------------------------- the plan
    def plan(self, experiment: str, configurations) -> None:
        """What ``experiment`` will train: :class:`PlannedTraining` items (all seeds)."""
        with self._lock:
            if experiment not in self.order:
                self.order.append(experiment)
            self.planned[experiment] = sum(PlannedTraining(*c).work for c in configurations)
            self.done.setdefault(experiment, 0)

    def experiment_finished(self, experiment: str) -> None:
        """No more work will come from ``experiment`` (whatever it planned)."""
        with self._lock:
            self.finished.add(experiment)

    # ------------------------------------------------------------ estimates
    @property
    def elapsed(self) -> float:
        return self.clock() - self._t0

    @property
    def running(self) -> int:
        """How many trainings are under way now."""
        return len(self._running)

    def busy_seconds(self) -> float:
        """Wall seconds so far during which at least one training ran."""
        if self._busy_since is None:
            return self._busy
        return self._busy + self.clock() - self._busy_since

    def work_done(self) -> int:
        return sum(self.done.values()) + sum(cur["done"] for cur in self._running.values())

    def work_left(self) -> int:
        """Planned work not yet done, over every experiment not finished."""
        left = 0
        for name in self.order:
            if name in self.finished:
                continue
            current = [cur for cur in self._running.values() if cur["experiment"] == name]
            done = self.done.get(name, 0) + sum(cur["done"] for cur in current)
            running_left = sum(cur["work"] - cur["done"] for cur in current)
            left += max(self.planned.get(name, 0) - done, running_left)
        return left

    def rate(self) -> float | None:
        """Example-epochs trained per second of training so far, all jobs together
        (None before the first epoch ends)."""
        seconds = self.busy_seconds()
        done = self.work_done()
        return done / seconds if done > 0 and seconds > 0 else None

    def seconds_left(self) -> float | None:
        rate = self.rate()
        return None if rate is None else self.work_left() / rate

    def fraction_done(self) -> float:
        done = self.work_done()
        total = done + self.work_left()
        return done / total if total else 0.0

    def _times(self) -> str:
        left = self.seconds_left()
        estimate = "estimating" if left is None else f"{format_duration(left)} left"
        return f"{format_duration(self.elapsed)} elapsed, {estimate}"

    # -------------------------------------------------------- one configuration
    def begin(
        self, experiment: str, label: str, seed: int, epochs: int, examples: int, *, key=None
    ) -> None:
        """A configuration starts training. ``key`` tells apart trainings that run at
        once (jobs); one at a time, it can be left out."""
        with self._lock:
            if experiment not in self.order:
                self.order.append(experiment)
                self.done.setdefault(experiment, 0)
            if not self._running:
                self._busy_since = self.clock()
            self._running[key] = {
                "experiment": experiment,
                "label": label,
                "seed": seed,
                "epochs": int(epochs),
                "examples": int(examples),
                "epoch": 0,
                "work": int(epochs) * int(examples),
                "done": 0,
                "seconds": 0.0,
                "start": self.clock(),
            }
            self._latest = key
            if self.terminal:
                self._draw()

    def epoch_done(self, epoch: int, *, key=None) -> None:
        """``epoch`` epochs (counting from 1) of the configuration ``key`` are done."""
        with self._lock:
            cur = self._running.get(key)
            if cur is None:
                return
            cur["epoch"] = epoch
            cur["done"] = epoch * cur["examples"]
            cur["seconds"] = self.clock() - cur["start"]
            self._latest = key
            if self.terminal:
                self._draw()

    def end(self, *, key=None) -> None:
        """The configuration ``key`` stopped (finished, stopped early or diverged)."""
        with self._lock:
            cur = self._running.pop(key, None)
            if cur is None:
                return
            now = self.clock()
            cur["seconds"] = now - cur["start"]
            if not self._running and self._busy_since is not None:
                self._busy += now - self._busy_since
                self._busy_since = None
            self.done[cur["experiment"]] = self.done.get(cur["experiment"], 0) + cur["done"]
            self.trainings_done += 1
            if not self.terminal:
                self._print_line(
                    f"[{cur['experiment']}] {cur['label']} (seed {cur['seed']}): "
                    f"{cur['epoch']}/{cur['epochs']} epochs in {cur['seconds']:.1f} s; "
                    f"run {100 * self.fraction_done():.0f}% done, {self._times()}"
                )
            elif self._running:
                self._draw()
            else:
                self._draw_idle(cur["experiment"])

    # -------------------------------------------------------------- display
    def _line_width(self) -> int:
        return self.width or shutil.get_terminal_size((100, 24)).columns

    def _bar(self) -> str:
        fraction = self.fraction_done()
        filled = round(fraction * self.BAR_WIDTH)
        return f"|{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}| {100 * fraction:3.0f}%"

    def _position(self, experiment: str) -> str:
        if experiment in self.order and len(self.order) > 1:
            return f" {self.order.index(experiment) + 1}/{len(self.order)}"
        return ""

    def _draw(self) -> None:
        running = self._running
        cur = running.get(self._latest) or next(iter(running.values()))
        where = f"{cur['experiment']}{self._position(cur['experiment'])}: "
        this = f"{cur['label']} (seed {cur['seed']}) epoch {cur['epoch']}/{cur['epochs']}"
        if len(running) == 1:
            head, tail = where + cur["label"], f" (seed {cur['seed']}) epoch "
            tail += f"{cur['epoch']}/{cur['epochs']} {self._bar()} {self._times()}"
        else:
            # Several jobs at once: how many, and the one that reported last.
            head = f"{where}{len(running)} training, {self.trainings_done} done; {this}"
            tail = f" {self._bar()} {self._times()}"
        self._redraw(head, tail)

    def _draw_idle(self, experiment: str) -> None:
        self._redraw(
            f"{experiment}{self._position(experiment)}:", f" {self._bar()} {self._times()}"
        )

    def _redraw(self, head: str, tail: str) -> None:
        """Draw ``head + tail`` over the current line; a long ``head`` is shortened first."""
        width = self._line_width() - 1
        room = width - len(tail)
        if len(head) > room:
            head = head[: max(0, room - 3)] + "..."
        text = (head + tail)[:width]
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def _print_line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        """Remove the redrawn line (before other output, and at the end)."""
        if self.terminal and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def write(self, text: str, file: TextIO | None = None) -> None:
        """Print ``text`` to ``file`` without tearing the redrawn line."""
        with self._lock:
            self._write(text, file)

    def _write(self, text: str, file: TextIO | None) -> None:
        self.clear()
        print(text, file=file or sys.stdout, flush=True)
        if self.terminal and self._running:
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        self.clear()
        if not self.terminal and self.order:
            self._print_line(f"[progress] run finished in {format_duration(self.elapsed)}")
