"""Progress display: a ``rich`` progress bar on a terminal, plain lines otherwise.

A command reports phases ("fetching the dataset", "linking") and, within a
phase, ``done``/``total`` counts — exactly what alink's
``progress(done, total)`` callback delivers on the event loop. The reporter
only records numbers there; drawing happens on rich's own refresh thread (bar)
or at most once a second (plain lines), so the event loop never waits for the
terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from . import _format

__all__ = ["Reporter", "open_reporter"]

#: Plain lines: at most one progress line per phase this often (seconds).
_LINE_INTERVAL = 1.0


#: What a phase counts: items (files) or bytes.
Unit = Literal["items", "bytes"]


def _amount(value: int, unit: Unit) -> str:
    return _format.size(value) if unit == "bytes" else _format.count(value)


class Reporter:
    """Shows nothing; the base of the visible reporters (``--quiet``)."""

    def begin(
        self, label: str, total: int | None = None, *, unit: Unit = "items"
    ) -> None:
        """Start a phase; ``total`` if it is counted (in ``unit``).

        A phase not ended before the next begins is dropped as unfinished.
        """

    def update(
        self, done: int, total: int | None = None, *, note: str | None = None
    ) -> None:
        """``done`` of ``total`` of the current phase are finished; ``note`` is
        shown beside the count (e.g. the files of a phase counted in bytes)."""

    def end(self, summary: str | None = None) -> None:
        """The current phase is finished; ``summary`` replaces its label."""

    def close(self) -> None:
        """Stop displaying (idempotent)."""


class _Lines(Reporter):
    """Plain lines for logs and pipes: a phase's start, its end, and a count at
    most once a second in between."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._label: str | None = None
        self._unit: Unit = "items"
        self._last = 0.0

    def _print(self, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        print(text, file=stream, flush=True)

    def begin(
        self, label: str, total: int | None = None, *, unit: Unit = "items"
    ) -> None:
        # A phase still open here did not finish (an error, Ctrl-C): no "done".
        self._label = label
        self._unit = unit
        self._last = self._clock()
        counted = f" ({_amount(total, unit)})" if total is not None else ""
        self._print(f"{label}{counted} ...")

    def update(
        self, done: int, total: int | None = None, *, note: str | None = None
    ) -> None:
        if self._label is None:
            return
        now = self._clock()
        if now - self._last < _LINE_INTERVAL or (total is not None and done >= total):
            return
        self._last = now
        unit = self._unit
        extra = f", {note}" if note else ""
        if total:
            share = f" ({100 * done // total}%)"
            self._print(
                f"{self._label}: {_amount(done, unit)}/{_amount(total, unit)}"
                f"{share}{extra}"
            )
        else:
            self._print(f"{self._label}: {_amount(done, unit)}{extra}")

    def end(self, summary: str | None = None) -> None:
        if self._label is None:
            return
        self._print(summary if summary is not None else f"{self._label}: done")
        self._label = None

    def close(self) -> None:
        self._label = None


class _Count(MofNCompleteColumn):
    """``done/total`` (sizes for a phase counted in bytes), and the phase's
    note; nothing for a phase that is not counted."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        note = task.fields.get("note")
        tail = f" {note}" if note else ""
        if task.fields.get("unit") == "bytes":
            done, total = int(task.completed), int(task.total)
            return Text(
                f"{_format.size(done)}/{_format.size(total)}{tail}",
                style="progress.download",
            )
        text = super().render(task)
        return text + tail if tail else text


class _Bar(Reporter):
    """A ``rich`` progress bar per phase; finished phases stay on screen."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            _Count(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=10,
        )
        self._task: TaskID | None = None
        self._label = ""
        self._progress.start()

    def begin(
        self, label: str, total: int | None = None, *, unit: Unit = "items"
    ) -> None:
        if self._task is not None:
            # It did not finish (an error, Ctrl-C): drop it without a tick.
            self._progress.remove_task(self._task)
        self._label = label
        self._task = self._progress.add_task(
            escape(label), total=total, unit=unit, note=""
        )

    def update(
        self, done: int, total: int | None = None, *, note: str | None = None
    ) -> None:
        if self._task is not None:
            self._progress.update(
                self._task, completed=done, total=total, note=note or ""
            )

    def end(self, summary: str | None = None) -> None:
        task = self._task
        if task is None:
            return
        self._task = None
        label = self._label
        # A finished phase becomes one line above the bar of the next one.
        self._progress.remove_task(task)
        self._progress.console.print(
            f"[green]✓[/] {escape(summary if summary is not None else label)}",
            highlight=False,
        )

    def close(self) -> None:
        self._progress.stop()


@contextmanager
def open_reporter(*, quiet: bool, console: Console | None = None) -> Iterator[Reporter]:
    """The reporter for this run: silent, a bar (terminal) or plain lines.

    Everything goes to standard error, so standard output stays clean for the
    command's result.
    """
    if quiet:
        reporter: Reporter = Reporter()
    else:
        console = console if console is not None else Console(stderr=True)
        reporter = _Bar(console) if console.is_terminal else _Lines(console.file)
    try:
        yield reporter
    finally:
        reporter.close()
