"""``--target`` that cannot be used: below a file, through a symlink that leads
nowhere, in a folder that cannot be written. Each is refused before anything
is done (no login, no request), with a documented exit code and one line that
names the path and says nothing was created; the disk is left as it was."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from alink.cli import ExitCode
from alink.cli._exit import classify

from .conftest import PUBLIC_PID, RAW_PID, TOKEN_ENV, Invoke, Site, tree

NOTHING = "nothing was created"


def _only_line(stderr: str) -> str:
    """The single line on stderr: the error, and no progress before it (the
    target was refused before SciCat was asked anything)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("alink: error: --target "), stderr
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """An existing regular file, someone's data."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"mine")
    return path


@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
@pytest.mark.parametrize("mode", ["--link", "--copy"])
def test_target_below_a_file(
    invoke: Invoke, tmp_path: Path, a_file: Path, below: str, mode: str
) -> None:
    before = tree(tmp_path)
    target = a_file / below
    result = invoke("download", RAW_PID, "--target", str(target), mode)
    assert result.exit_code == ExitCode.FILE_EXISTS
    line = _only_line(result.stderr)
    assert str(target) in line
    assert f"{a_file} is a file" in line
    assert NOTHING in line
    assert result.stdout == ""
    assert tree(tmp_path) == before
    assert a_file.read_bytes() == b"mine"


def test_target_below_something_else_that_is_not_a_folder(
    invoke: Invoke, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    before = tree(tmp_path)
    result = invoke("download", RAW_PID, "--target", str(fifo / "sub"))
    assert result.exit_code == ExitCode.FILE_EXISTS
    line = _only_line(result.stderr)
    assert f"{fifo} is not a folder" in line
    assert NOTHING in line
    assert tree(tmp_path) == before


def test_target_below_a_file_with_several_datasets(
    invoke: Invoke, tmp_path: Path, a_file: Path
) -> None:
    before = tree(tmp_path)
    target = a_file / "runs"
    result = invoke("download", RAW_PID, PUBLIC_PID, "--target", str(target))
    assert result.exit_code == ExitCode.FILE_EXISTS
    assert NOTHING in _only_line(result.stderr)
    assert tree(tmp_path) == before


def test_target_that_is_a_file_says_nothing_was_created(
    invoke: Invoke, tmp_path: Path, a_file: Path
) -> None:
    before = tree(tmp_path)
    result = invoke("download", RAW_PID, "--target", str(a_file))
    assert result.exit_code == ExitCode.FILE_EXISTS
    line = _only_line(result.stderr)
    assert f"--target {a_file}: exists and is not a folder" in line
    assert NOTHING in line
    assert tree(tmp_path) == before
    assert a_file.read_bytes() == b"mine"


def test_a_dataset_folder_that_is_a_file(invoke: Invoke, tmp_path: Path) -> None:
    # Several datasets: the target is fine, but one dataset's own folder in
    # it is a file. The library refuses it (NotADirectoryError): in the way,
    # like a --target that is a file, not a filesystem failure.
    target = tmp_path / "runs"
    target.mkdir()
    (target / "cli-raw").write_bytes(b"mine")
    result = invoke("download", RAW_PID, PUBLIC_PID, "--target", str(target))
    assert result.exit_code == ExitCode.FILE_EXISTS
    errors = [e for e in result.stderr.splitlines() if e.startswith("alink: error:")]
    assert len(errors) == 1, result.stderr
    assert "cli-raw" in errors[0]
    assert (target / "cli-raw").read_bytes() == b"mine"
    assert sorted(p for p in tree(target) if "/" not in p) == [
        "cli-public",
        "cli-raw",
    ]


def test_not_a_folder_from_the_system_is_something_in_the_way() -> None:
    # What the download raises if a file appears on the way after the check.
    error = NotADirectoryError(
        errno.ENOTDIR, os.strerror(errno.ENOTDIR), "/data/notes.txt/sub"
    )
    code, text = classify(error)
    assert code == ExitCode.FILE_EXISTS
    assert text.startswith(f"{os.strerror(errno.ENOTDIR)}: /data/notes.txt/sub")
    assert "a folder on that path is a file" in text


@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
def test_target_through_a_dangling_symlink(
    invoke: Invoke, tmp_path: Path, below: str
) -> None:
    link = tmp_path / "results"
    link.symlink_to(tmp_path / "gone")
    before = tree(tmp_path)
    target = link / below
    result = invoke("download", RAW_PID, "--target", str(target))
    assert result.exit_code == ExitCode.FILE_EXISTS
    line = _only_line(result.stderr)
    assert str(target) in line
    assert f"{link} is a symlink to {tmp_path / 'gone'}, which does not exist" in line
    assert NOTHING in line
    assert tree(tmp_path) == before
    assert not (tmp_path / "gone").exists()


def test_target_through_a_symlink_loop(invoke: Invoke, tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    before = tree(tmp_path)
    result = invoke("download", RAW_PID, "--target", str(loop / "sub"))
    assert result.exit_code == ExitCode.FILE_EXISTS
    line = _only_line(result.stderr)
    assert "loop of symlinks" in line
    assert NOTHING in line
    assert tree(tmp_path) == before


def test_target_that_is_a_dangling_symlink(invoke: Invoke, tmp_path: Path) -> None:
    # The target itself a symlink: refused as unsafe, dangling or not (a
    # planted link must not redirect a download), and the folder it names is
    # not created.
    link = tmp_path / "results"
    link.symlink_to(tmp_path / "gone")
    before = tree(tmp_path)
    result = invoke("download", RAW_PID, "--target", str(link))
    assert result.exit_code == ExitCode.UNSAFE_PATH
    line = _only_line(result.stderr)
    assert f"is a symlink to {tmp_path / 'gone'}, which does not exist" in line
    assert "give the folder it leads to as --target" in line
    assert NOTHING in line
    assert tree(tmp_path) == before
    assert not (tmp_path / "gone").exists()


def test_target_below_a_symlink_to_a_folder_is_fine(
    invoke: Invoke, tmp_path: Path
) -> None:
    # Not an oddity: a folder on the way may be a symlink (only the target
    # itself, and folders inside it, may not).
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real)
    result = invoke("download", RAW_PID, "--target", str(tmp_path / "via" / "out"))
    assert result.exit_code == 0, result.stderr
    assert len(os.listdir(real / "out")) == 5


@pytest.mark.parametrize("below", ["out", "out/deeper"])
def test_target_in_a_read_only_folder(
    site: Site,
    tmp_path: Path,
    below: str,
    permissions_bind: Callable[[list[str], Path], list[str]],
) -> None:
    # A real process, for real permissions (root's are dropped: see the fixture).
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        target = locked / below
        command = permissions_bind(
            [
                *(sys.executable, "-m", "alink", "download", RAW_PID),
                *("--url", site.url, "--target", str(target)),
            ],
            locked / "probe",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCICAT_")}
        env[TOKEN_ENV] = site.token
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == ExitCode.FILESYSTEM, done.stderr
        line = _only_line(done.stderr)
        assert f"--target {target}: cannot create {locked / 'out'}" in line
        assert f"no permission to write in {locked}" in line
        assert NOTHING in line
        assert "Traceback" not in done.stderr
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o755)
