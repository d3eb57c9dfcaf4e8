"""Ctrl-C and SIGTERM outside the work itself: at the password prompt (a real
terminal), and after the work has finished (exit 0, the result is kept)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from alink.cli import ExitCode, _app, _run
from alink.cli._progress import Reporter

from .conftest import FILES, RAW_PID, Invoke, Site, links_in

# --- at the password prompt, on a real (pseudo-)terminal ---------------------

#: Makes the pseudo-terminal on stdin the controlling terminal of the new
#: session, then becomes ``python -m alink ARGS``: as in a shell, a ^C typed
#: on the terminal is a SIGINT to alink, and getpass reads from it.
_ON_A_TERMINAL = (
    "import fcntl, os, sys, termios;"
    " fcntl.ioctl(0, termios.TIOCSCTTY, 0);"
    " os.execv(sys.executable, [sys.executable, '-m', 'alink', *sys.argv[1:]])"
)


class _Terminal:
    """``alink`` running on a pseudo-terminal: what it wrote, what we type."""

    def __init__(self, args: list[str]) -> None:
        self.master, follower = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCICAT_")}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ON_A_TERMINAL, *args],
                stdin=follower,
                stdout=follower,
                stderr=follower,
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(follower)
        self.output = b""

    def _read(self, timeout: float) -> bool:
        """Add what arrives within ``timeout``; ``False`` if nothing did, or
        the other side is closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the other side is closed
            return False
        self.output += data
        return bool(data)

    def wait_until(self, done: Callable[[], bool], timeout: float = 60) -> None:
        """Read until ``done()``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, self.output
            assert self.process.poll() is None, self.output
            self._read(0.05)

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def finish(self, timeout: float = 60) -> tuple[int, list[str]]:
        """The exit code and the non-blank lines written."""
        code = self.process.wait(timeout)
        while self._read(1.0):
            pass
        lines = self.output.decode(errors="replace").splitlines()
        return code, [line.strip() for line in lines if line.strip()]

    def echoes(self) -> bool:
        """Whether the terminal echoes typed characters (getpass turns it off)."""
        return bool(termios.tcgetattr(self.master)[3] & termios.ECHO)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@pytest.fixture
def at_the_prompt(site: Site) -> Iterator[_Terminal]:
    """``alink show --username user1`` waiting for the password on a terminal."""
    terminal = _Terminal(["show", RAW_PID, "--url", site.url, "--username", "user1"])
    try:
        terminal.wait_until(lambda: b"SciCat password for user1:" in terminal.output)
        # getpass turns the echo off just before it reads: it is waiting.
        terminal.wait_until(lambda: not terminal.echoes())
        yield terminal
    finally:
        terminal.close()


def test_ctrl_c_at_the_password_prompt(at_the_prompt: _Terminal) -> None:
    at_the_prompt.type(b"\x03")  # ^C, turned into SIGINT by the terminal
    code, lines = at_the_prompt.finish()
    assert code == ExitCode.INTERRUPTED
    assert lines == ["SciCat password for user1:", "alink: interrupted"]
    assert at_the_prompt.echoes()


def test_sigterm_at_the_password_prompt(at_the_prompt: _Terminal) -> None:
    at_the_prompt.process.send_signal(signal.SIGTERM)
    code, lines = at_the_prompt.finish()
    assert code == ExitCode.INTERRUPTED
    assert lines == ["SciCat password for user1:", "alink: interrupted"]
    # Killed at the prompt, it would leave the terminal without echo.
    assert at_the_prompt.echoes()


def test_end_of_input_at_the_password_prompt_is_a_missing_password(
    at_the_prompt: _Terminal,
) -> None:
    # ^D is not an interruption: no password was given (a usage error).
    at_the_prompt.type(b"\x04")
    code, lines = at_the_prompt.finish()
    assert code == ExitCode.USAGE
    assert lines[-1].startswith("alink: error: no password for 'user1'")
    assert "Traceback" not in "\n".join(lines)


# --- after the work: the run is what the work did ----------------------------


class _SignalAtTheEnd(Reporter):
    """Sends this process SIGINT as the last phase ends: every file is in
    place and verified, the job has not returned yet."""

    def __init__(self) -> None:
        self.sent = False

    def end(self, line: str | None = None) -> None:
        if line is not None and line.startswith("verified ") and not self.sent:
            self.sent = True
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_after_the_files_are_in_place_is_not_an_interruption(
    invoke: Invoke, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter = _SignalAtTheEnd()

    @contextmanager
    def fake_reporter(*, quiet: bool) -> Iterator[Reporter]:
        yield reporter

    monkeypatch.setattr(_app, "open_reporter", fake_reporter)
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target))
    assert reporter.sent
    # Not "interrupted; this run's files were removed again": they were not.
    assert result.exit_code == 0, result.stderr
    assert "interrupted" not in result.stderr
    assert f"5 files (34.9 KiB) of {RAW_PID} ready in {target}" in result.stdout
    raw = site.storage / "raw"
    assert links_in(target) == {Path(rel).name: str(raw / rel) for rel in FILES}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_the_result_is_printed_keeps_it(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = _app._download_summary

    def signal_then_summary(*args: object, **kwargs: object) -> str:
        signal.raise_signal(signal.SIGINT)
        return summary(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_app, "_download_summary", signal_then_summary)
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target))
    assert result.exit_code == 0, result.stderr
    assert f"5 files (34.9 KiB) of {RAW_PID} ready in {target}" in result.stdout
    assert "interrupted" not in result.stderr
    assert len(links_in(target)) == len(FILES)
    # The command's caller gets its own handling back.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


#: ``alink ARGS`` as the console script runs it, with SIGNAL sent to itself
#: just before the closing line is printed (the work is done by then).
_SIGNAL_WHILE_PRINTING = """
import signal, sys
from alink.cli import _app, main
summary = _app._download_summary
def signal_then_summary(*args, **kwargs):
    signal.raise_signal(getattr(signal, sys.argv[1]))
    return summary(*args, **kwargs)
_app._download_summary = signal_then_summary
main(sys.argv[2:])
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_result_is_printed_in_a_real_process(
    site: Site, tmp_path: Path, sig: str
) -> None:
    # A real process: nothing but the exit code decides, not even how the
    # interpreter ends (a SIGTERM there would kill it, whatever alink did).
    target = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCICAT_")}
    env["SCICAT_TOKEN"] = site.token
    done = subprocess.run(
        [
            *(sys.executable, "-c", _SIGNAL_WHILE_PRINTING, sig, "download"),
            *(RAW_PID, "--url", site.url, "--target", str(target)),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"5 files (34.9 KiB) of {RAW_PID} ready in {target}" in done.stdout
    assert "interrupted" not in done.stderr
    assert "Traceback" not in done.stderr
    assert len(links_in(target)) == len(FILES)


# --- the rule itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("interrupted", "completed", "failed", "stopped"),
    [
        (False, True, False, False),  # plain success
        (False, False, True, False),  # plain failure: its own code
        (True, False, False, True),  # cancelled: the rollback ran
        (True, False, True, True),  # cancelled, then the rollback failed
        (True, True, False, False),  # the signal came after the last step
    ],
)
def test_only_an_interruption_that_stopped_the_work_counts(
    interrupted: bool, completed: bool, failed: bool, stopped: bool
) -> None:
    outcome: _run.Outcome[int] = _run.Outcome(
        value=1 if completed else None,
        error=OSError("disk full") if failed else None,
        interrupted=interrupted,
        completed=completed,
    )
    assert _run.stopped_by_interruption(outcome) is stopped


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """Put back the handlers ``run_job`` leaves (see its docstring)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _run_job(job: Callable[[], Awaitable[str]], backend: str) -> _run.Outcome[str]:
    return _run.run_job(job, backend=backend)


@pytest.mark.usefixtures("own_signal_handlers")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_job_a_signal_during_the_work_stops_it(backend: str) -> None:
    async def job() -> str:
        signal.raise_signal(signal.SIGINT)
        await anyio.sleep(30)
        return "done"

    outcome = _run_job(job, backend)
    assert outcome.interrupted
    assert not outcome.completed
    assert _run.stopped_by_interruption(outcome)


@pytest.mark.usefixtures("own_signal_handlers")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_job_a_signal_after_the_last_step_changes_nothing(backend: str) -> None:
    async def job() -> str:
        await anyio.lowlevel.checkpoint()
        signal.raise_signal(signal.SIGINT)  # no checkpoint follows
        return "done"

    outcome = _run_job(job, backend)
    assert outcome.completed
    assert outcome.value == "done"
    assert not _run.stopped_by_interruption(outcome)
    # From the job's end on, Ctrl-C and SIGTERM change nothing.
    signal.raise_signal(signal.SIGINT)
    signal.raise_signal(signal.SIGTERM)
    assert not _run.stopped_by_interruption(outcome)
