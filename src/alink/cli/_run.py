"""Run a command's async part with ``anyio.run`` and turn its end into an exit.

Ctrl-C (SIGINT) and SIGTERM do not raise ``KeyboardInterrupt`` at some random
point: a signal watcher cancels the job's cancel scope, so alink's own
cancellation handling runs (the rollback of a half-done download, the
clean-up of the demo) before the command exits with code 130 and one line.
Errors become one line and a distinct exit code (see :mod:`._exit`); with
``--debug`` the traceback is printed too.
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
from typing import Generic, NoReturn, TypeVar

import anyio
import anyio.abc
import click

from ._exit import ExitCode, classify

__all__ = ["Outcome", "fail", "finish", "log_to_stderr", "run_job"]

T = TypeVar("T")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(slots=True)
class Outcome(Generic[T]):
    """How a job ended: a value, an error, or an interruption."""

    value: T | None = None
    error: BaseException | None = None
    interrupted: bool = False


def run_job(job: Callable[[], Awaitable[T]], *, backend: str) -> Outcome[T]:
    """Run ``job`` on a fresh event loop; Ctrl-C cancels it cleanly.

    Never raises for the job's own errors: they are returned in the outcome,
    so the caller can first stop the progress display, then report.
    """
    outcome: Outcome[T] = Outcome()

    async def watch(
        job_scope: anyio.CancelScope,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        with anyio.open_signal_receiver(*_SIGNALS) as signals:
            task_status.started()
            async for _ in signals:
                if not outcome.interrupted:
                    outcome.interrupted = True
                    # Only the job is cancelled: this watcher keeps receiving
                    # signals, so a second Ctrl-C cannot cut the rollback short.
                    job_scope.cancel()

    async def main() -> None:
        job_scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            if threading.current_thread() is threading.main_thread():
                await tg.start(watch, job_scope)
            with job_scope:
                try:
                    outcome.value = await job()
                except Exception as exc:
                    outcome.error = _unwrap(exc)
            tg.cancel_scope.cancel()

    anyio.run(main, backend=backend)
    return outcome


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


def _unwrap(error: BaseException) -> BaseException:
    """The single error inside (nested) exception groups, if there is one."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    """Print ``alink: error: message`` on standard error and exit with ``code``."""
    click.echo(f"alink: error: {message}", err=True)
    raise click.exceptions.Exit(int(code))


def finish(outcome: Outcome[T], *, debug: bool, interrupted_message: str) -> T:
    """The job's value, or print one line and exit with the matching code."""
    if outcome.interrupted:
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
