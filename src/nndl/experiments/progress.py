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
  whole run, the time spent and the estimate of the time left;
- elsewhere (a log, a pipe), one plain line per finished configuration with
  the time spent and the estimate of the time left.
"""

from __future__ import annotations

import shutil
import sys
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
        self.train_seconds = 0.0
        self._t0 = clock()
        self._shown = False
        self._current: dict | None = None

    # ------------------------------------------------------------- the plan
    def plan(self, experiment: str, configurations) -> None:
        """What ``experiment`` will train: :class:`PlannedTraining` items (all seeds)."""
        if experiment not in self.order:
            self.order.append(experiment)
        self.planned[experiment] = sum(PlannedTraining(*c).work for c in configurations)
        self.done.setdefault(experiment, 0)

    def experiment_finished(self, experiment: str) -> None:
        """No more work will come from ``experiment`` (whatever it planned)."""
        self.finished.add(experiment)

    # ------------------------------------------------------------ estimates
    @property
    def elapsed(self) -> float:
        return self.clock() - self._t0

    def work_done(self) -> int:
        current = self._current["done"] if self._current else 0
        return sum(self.done.values()) + current

    def work_left(self) -> int:
        """Planned work not yet done, over every experiment not finished."""
        left = 0
        for name in self.order:
            if name in self.finished:
                continue
            done = self.done.get(name, 0)
            if self._current and self._current["experiment"] == name:
                cur = self._current
                done += cur["done"]
                left += max(self.planned.get(name, 0) - done, cur["work"] - cur["done"])
            else:
                left += max(self.planned.get(name, 0) - done, 0)
        return left

    def rate(self) -> float | None:
        """Example-epochs trained per second so far (None before the first epoch ends)."""
        seconds = self.train_seconds
        if self._current:
            seconds += self._current["seconds"]
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
    def begin(self, experiment: str, label: str, seed: int, epochs: int, examples: int) -> None:
        """A configuration starts training."""
        if experiment not in self.order:
            self.order.append(experiment)
            self.done.setdefault(experiment, 0)
        self._current = {
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
        if self.terminal:
            self._draw()

    def epoch_done(self, epoch: int) -> None:
        """``epoch`` epochs (counting from 1) of the current configuration are done."""
        cur = self._current
        if cur is None:
            return
        cur["epoch"] = epoch
        cur["done"] = epoch * cur["examples"]
        cur["seconds"] = self.clock() - cur["start"]
        if self.terminal:
            self._draw()

    def end(self) -> None:
        """The current configuration stopped (finished, stopped early or diverged)."""
        cur = self._current
        if cur is None:
            return
        cur["seconds"] = self.clock() - cur["start"]
        self.train_seconds += cur["seconds"]
        self.done[cur["experiment"]] = self.done.get(cur["experiment"], 0) + cur["done"]
        self._current = None
        if not self.terminal:
            self._print_line(
                f"[{cur['experiment']}] {cur['label']} (seed {cur['seed']}): "
                f"{cur['epoch']}/{cur['epochs']} epochs in {cur['seconds']:.1f} s; "
                f"run {100 * self.fraction_done():.0f}% done, {self._times()}"
            )
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
        cur = self._current
        head = f"{cur['experiment']}{self._position(cur['experiment'])}: {cur['label']}"
        tail = (
            f" (seed {cur['seed']}) epoch {cur['epoch']}/{cur['epochs']} {self._bar()} "
            f"{self._times()}"
        )
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
        self.clear()
        print(text, file=file or sys.stdout, flush=True)
        if self.terminal and self._current is not None:
            self._draw()

    def close(self) -> None:
        self.clear()
        if not self.terminal and self.order:
            self._print_line(f"[progress] run finished in {format_duration(self.elapsed)}")
