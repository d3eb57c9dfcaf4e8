"""Run a command's async part with ``anyio.run`` and turn its end into an exit.

Ctrl-C (SIGINT) and SIGTERM do not raise ``KeyboardInterrupt`` at some random
point: a signal watcher cancels the job's cancel scope, so alink's own
cancellation handling runs (the rollback of a half-done download, the
clean-up of the demo) before the command exits with code 130 and one line.
Errors become one line and a distinct exit code (see :mod:`._exit`); with
``--debug`` the traceback is printed too.

An interruption counts only if it stopped the work
(:func:`stopped_by_interruption`): once the job has returned, its result is
the command's, and from the job's end on both signals are ignored, so a
Ctrl-C while the closing lines are printed (or while the process exits)
cannot turn a finished run into exit 130. :func:`signals_put_back` gives an
in-process caller (tests) its own handlers back afterwards.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar

import anyio
import anyio.abc
import click

from .._groups import sole_error
from ._exit import ExitCode, classify

__all__ = [
    "Outcome",
    "fail",
    "finish",
    "log_to_stderr",
    "run_job",
    "signals_put_back",
    "stopped_by_interruption",
]

T = TypeVar("T")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(slots=True)
class Outcome(Generic[T]):
    """How a job ended: a value, an error, or an interruption.

    ``interrupted`` and ``completed`` are both true when the signal came after
    the job's last checkpoint: it was asked to stop, but had nothing left to
    stop, and returned its value. :func:`stopped_by_interruption` decides.
    """

    value: T | None = None
    error: BaseException | None = None
    #: A Ctrl-C or SIGTERM came while the job was running (it was cancelled).
    interrupted: bool = False
    #: The job returned its value (``value`` may be ``None`` all the same).
    completed: bool = False
    #: The job returned or raised: later signals are no interruption of it.
    ended: bool = False


def stopped_by_interruption(outcome: Outcome[Any]) -> bool:
    """Whether the command ends as interrupted (exit 130, its one line).

    The rule (``docs/cli.md``): an interruption counts only if it stopped the
    work. A signal while the job runs cancels it, and unless the job returns
    its value all the same (the signal came after its last step: the files
    are in place, nothing was rolled back), the run is interrupted, even if
    the rollback then failed too. A signal after the job ended is ignored
    (:func:`run_job`), so the job's value or its own error decides.
    """
    return outcome.interrupted and not outcome.completed


def run_job(job: Callable[[], Awaitable[T]], *, backend: str) -> Outcome[T]:
    """Run ``job`` on a fresh event loop; Ctrl-C cancels it cleanly.

    Never raises for the job's own errors: they are returned in the outcome,
    so the caller can first stop the progress display, then report.

    From the job's end on, SIGINT and SIGTERM are ignored (when run in the
    main thread; see :func:`stopped_by_interruption`), and stay so: the
    process is about to print its result and exit. An in-process caller puts
    its handlers back with :func:`signals_put_back`.
    """
    outcome: Outcome[T] = Outcome()

    async def watch(
        job_scope: anyio.CancelScope,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        def interrupt() -> None:
            if not outcome.interrupted and not outcome.ended:
                outcome.interrupted = True
                # Only the job is cancelled: this watcher keeps receiving
                # signals, so a second Ctrl-C cannot cut the rollback short.
                job_scope.cancel()

        noted: list[int] = []
        # Around the receiver's life, signals are noted, never raised: one
        # before it took over stops the job before it starts; one still
        # queued when it closes (trio hands those to the handlers it found)
        # came after the job's end, and is ignored.
        _handle_signals(lambda signum, frame: noted.append(signum))
        try:
            with anyio.open_signal_receiver(*_SIGNALS) as signals:
                if noted:
                    interrupt()
                task_status.started()
                async for _ in signals:
                    interrupt()
        except KeyboardInterrupt:
            # asyncio's receiver puts the default handler back on closing, for
            # the instant up to the next line: after the job's end, too.
            interrupt()
        finally:
            _handle_signals(signal.SIG_IGN)

    async def main() -> None:
        job_scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            if threading.current_thread() is threading.main_thread():
                await tg.start(watch, job_scope)
            with job_scope:
                try:
                    outcome.value = await job()
                    outcome.completed = True
                except Exception as exc:
                    outcome.error = sole_error(exc)
                finally:
                    outcome.ended = True
            tg.cancel_scope.cancel()

    try:
        anyio.run(main, backend=backend)
    except* KeyboardInterrupt:
        # Only before the watcher took over (the event loop's own Ctrl-C
        # handling): nothing was done yet.
        if not outcome.ended:
            outcome.interrupted = True
    _handle_signals(signal.SIG_IGN)
    return outcome


def _handle_signals(handler: Any) -> None:
    """SIGINT and SIGTERM go to ``handler`` (a function, or ``SIG_IGN``);
    only in the main thread: elsewhere they are not ours to change, and no
    watcher ran either."""
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            signal.signal(sig, handler)


@contextmanager
def signals_put_back(*, restore: bool = True) -> Iterator[None]:
    """Around a whole command: the SIGINT and SIGTERM handlers it found are
    put back at the end (:func:`run_job` leaves them ignored).

    For a caller that lives on (a test, a program running the command
    in-process). The console script passes ``restore=False``: its process
    ends right after the command, and a signal in between must not change
    the exit code the work decided.
    """
    if not restore or threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = [(sig, signal.getsignal(sig)) for sig in _SIGNALS]
    try:
        yield
    finally:
        for sig, handler in saved:
            if handler is not None:  # None: set outside Python, cannot restore
                signal.signal(sig, handler)


class _StderrHandler(logging.Handler):
    """Log records as ``alink: warning: ...`` lines on the *current* standard
    error (which a progress bar may redirect above itself)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(self.format(record).split())
            print(f"alink: {record.levelname.lower()}: {text}", file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextmanager
def log_to_stderr(*, debug: bool) -> Iterator[None]:
    """Show alink's warnings (and with ``--debug`` its debug log) on stderr."""
    logger = logging.getLogger("alink")
    handler = _StderrHandler(logging.DEBUG if debug else logging.WARNING)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    """Print ``alink: error: message`` on standard error and exit with ``code``."""
    click.echo(f"alink: error: {message}", err=True)
    raise click.exceptions.Exit(int(code))


def finish(outcome: Outcome[T], *, debug: bool, interrupted_message: str) -> T:
    """The job's value, or print one line and exit with the matching code."""
    if stopped_by_interruption(outcome):
        if outcome.error is not None and debug:
            _print_traceback(outcome.error)
        click.echo(f"alink: interrupted; {interrupted_message}", err=True)
        raise click.exceptions.Exit(int(ExitCode.INTERRUPTED))
    if outcome.error is not None:
        code, message = classify(outcome.error)
        if debug:
            _print_traceback(outcome.error)
        hint = "" if debug else " (--debug shows the details)"
        if code is not ExitCode.ERROR:
            hint = ""
        fail(message + hint, code)
    return outcome.value  # type: ignore[return-value]


def _print_traceback(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error))
    print(text, file=sys.stderr, end="", flush=True)
