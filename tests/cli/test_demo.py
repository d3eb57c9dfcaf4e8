"""``alink demo``: in-process on both backends, and once as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from alink.cli import ExitCode, _app, _demo
from alink.cli._progress import Reporter

from .conftest import Invoke, one_error_line, tree


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the demo makes its temporary folder (instead of /dev/shm)."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(_demo, "scratch_root", lambda: str(folder))
    return folder


def test_demo_links_verifies_and_cleans_up(invoke: Invoke, scratch: Path) -> None:
    result = invoke("demo", "--files", "500", "--file-size", "100")
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith("alink demo: linked 500 files in ")
    text = result.stdout
    assert "500 files in 5 folders, 48.8 KiB" in text
    assert "size and md5 checksum of every file" in text
    assert "event loop  blocked at most" in text
    assert "all 500 links point at their facility files" in text
    assert "cleaned up" in text
    assert tree(scratch) == []
    # Progress went to stderr as plain lines (not a terminal).
    assert "linking files" in result.stderr


def test_demo_keep(invoke: Invoke, tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    result = invoke("demo", "--files", "250", "--keep", str(keep), "--verify", "size")
    assert result.exit_code == 0, result.stderr
    download = keep / "download" / "run-0042"
    storage = keep / "facility" / "beamline" / "run-0042"
    links = [p for p in download.rglob("*") if p.is_symlink()]
    assert len(links) == 250
    for link in links:
        assert link.readlink() == storage / link.relative_to(download)
        assert link.read_bytes().startswith(b"alink demo frame")
    assert f"kept        {download} -> {storage}" in result.stdout


def test_demo_keep_refuses_a_folder_in_use(invoke: Invoke, tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    keep.mkdir()
    (keep / "mine.txt").write_text("mine")
    result = invoke("demo", "--files", "10", "--keep", str(keep))
    assert result.exit_code == ExitCode.FILE_EXISTS
    assert "not an empty folder" in one_error_line(result)
    assert tree(keep) == ["mine.txt"]


def test_demo_keep_into_an_empty_folder_that_exists(
    invoke: Invoke, tmp_path: Path
) -> None:
    keep = tmp_path / "kept"
    keep.mkdir()
    result = invoke("demo", "--files", "10", "--keep", str(keep), "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert (keep / "download").is_dir()


class _InterruptWhileLinking(Reporter):
    def __init__(self) -> None:
        self.phase = ""
        self.sent = False

    def begin(self, label: str, total: int | None = None) -> None:
        self.phase = label

    def update(self, done: int, total: int | None = None) -> None:
        if self.phase == "linking files" and not self.sent and total and done:
            self.sent = True
            signal.raise_signal(signal.SIGINT)


def test_demo_ctrl_c_cleans_up(
    invoke: Invoke, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reporter = _InterruptWhileLinking()

    @contextmanager
    def fake_reporter(*, quiet: bool) -> Iterator[Reporter]:
        yield reporter

    monkeypatch.setattr(_app, "open_reporter", fake_reporter)
    result = invoke("demo", "--files", "3000", "--verify", "none")
    assert reporter.sent
    assert result.exit_code == ExitCode.INTERRUPTED
    assert (
        one_line(result.stderr) == "alink: interrupted; the demo's files were removed"
    )
    assert tree(scratch) == []


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def _alink() -> str:
    """The installed console script next to this interpreter."""
    script = Path(sys.executable).parent / "alink"
    if not script.exists():
        pytest.skip("the alink console script is not installed in this environment")
    return str(script)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCICAT_")}
    env["TMPDIR"] = str(tmp_path)
    return env


def test_subprocess_demo(tmp_path: Path) -> None:
    run = subprocess.run(
        [_alink(), "demo", "--files", "500"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("alink demo: linked 500 files in ")
    assert "all 500 links point at their facility files" in run.stdout
    assert "Traceback" not in run.stderr


def test_subprocess_error_is_one_line(tmp_path: Path) -> None:
    run = subprocess.run(
        [_alink(), "show", "20.500.12269/x", "--url", "http://127.0.0.1:9/api"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert run.returncode == ExitCode.USAGE
    assert run.stdout == ""
    line = one_line(run.stderr)
    assert line.startswith("alink: error: no SciCat token")
