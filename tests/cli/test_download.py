"""``alink download``: link, copy, select, verify; bad input loses nothing."""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from alink.cli import ExitCode, _app
from alink.cli._progress import Reporter

from .conftest import (
    BAD_CHECKSUM_PID,
    EMPTY_PID,
    FILES,
    MISSING_PID,
    NO_ALGORITHM_PID,
    RAW_PID,
    SAME_NAMES_PID,
    UNSAFE_PID,
    Invoke,
    Site,
    links_in,
    one_error_line,
    tree,
    write_tree,
)


def test_link_flat_by_default(invoke: Invoke, site: Site, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target))
    assert result.exit_code == 0, result.stderr
    raw = site.storage / "raw"
    assert links_in(target) == {Path(rel).name: str(raw / rel) for rel in FILES}
    for rel, data in FILES.items():
        assert (target / Path(rel).name).read_bytes() == data
    assert f"5 files (34.9 KiB) of {RAW_PID} ready in {target}" in result.stdout
    # Not a terminal: plain progress lines on stderr, nothing else.
    assert "linking files" in result.stderr
    assert "error" not in result.stderr


def test_keep_tree_and_select(invoke: Invoke, site: Site, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download",
        RAW_PID,
        "--target",
        str(target),
        "--keep-tree",
        "--select",
        r"^scan1/",
        "--select",
        r"\.txt$",
    )
    assert result.exit_code == 0, result.stderr
    raw = site.storage / "raw"
    expected = ["scan1/frame1.h5", "scan1/frame2.h5", "scan2/notes.txt"]
    assert links_in(target) == {rel: str(raw / rel) for rel in expected}
    assert "3 files" in result.stdout


def test_select_that_matches_nothing(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target), "--select", "xyz")
    assert result.exit_code == ExitCode.USAGE
    assert "no file of dataset" in one_error_line(result)
    assert not target.exists()


def test_bad_regex(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke(
        "download", RAW_PID, "--target", str(tmp_path / "out"), "--select", "("
    )
    assert result.exit_code == ExitCode.USAGE
    assert "regular expression" in one_error_line(result)
    assert not (tmp_path / "out").exists()


def test_same_names_need_keep_tree(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    flat = invoke("download", SAME_NAMES_PID, "--target", str(target))
    assert flat.exit_code == ExitCode.INVALID_DATASET
    line = one_error_line(flat)
    assert "x.dat" in line
    # The command line's own flags, not the library's keyword names.
    assert "--keep-tree" in line
    assert "keep_tree=" not in line
    assert not target.exists()
    tree_kept = invoke(
        "download", SAME_NAMES_PID, "--target", str(target), "--keep-tree"
    )
    assert tree_kept.exit_code == 0, tree_kept.stderr
    assert sorted(links_in(target)) == ["a/x.dat", "b/x.dat"]


@pytest.mark.parametrize("mode", ["--link", "--copy"])
def test_progress_lines_of_a_rerun_say_nothing_was_made(
    invoke: Invoke, tmp_path: Path, mode: str
) -> None:
    target = tmp_path / "out"
    args = ("download", RAW_PID, "--target", str(target), mode, "--checksum")
    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    verb = "linked" if mode == "--link" else "copied"
    assert "5 files ready in" in first.stderr
    assert f"5 {verb}" in first.stdout
    again = invoke(*args)
    assert again.exit_code == 0, again.stderr
    assert f"{verb} 5 files" not in again.stderr
    if mode == "--link":
        # alink's own links go through the transfer again, and are verified.
        assert "5 files ready in" in again.stderr
        assert "verified 5 files in" in again.stderr
    else:
        # Identical copies were checked up front: nothing left to do.
        assert "5 files already in place (" in again.stderr
    assert "(5 already in place;" in again.stdout


def test_force_does_not_skip_files_that_are_up_to_date(
    invoke: Invoke, site: Site, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    args = ("download", RAW_PID, "--target", str(target), "--checksum")
    assert invoke(*args).exit_code == 0
    again = invoke(*args)
    assert "(5 already in place;" in again.stdout
    # A link to the very file is what --force would make again: in place.
    forced = invoke(*args, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "(5 already in place;" in forced.stdout
    raw = site.storage / "raw"
    assert links_in(target) == {Path(rel).name: str(raw / rel) for rel in FILES}


def test_copy(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target), "--copy")
    assert result.exit_code == 0, result.stderr
    assert links_in(target) == {}
    for rel, data in FILES.items():
        path = target / Path(rel).name
        assert path.is_file()
        assert not path.is_symlink()
        assert path.read_bytes() == data
    assert "copying files" in result.stderr
    # Verification is a phase of its own, counted in bytes and files.
    assert "5 files ready in" in result.stderr
    assert "verifying files (34.9 KiB) ..." in result.stderr
    assert "verified 5 files in" in result.stderr


def test_auto_links_when_the_storage_is_mounted(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target), "--auto")
    assert result.exit_code == 0, result.stderr
    assert len(links_in(target)) == len(FILES)


def test_rerun_keeps_files_that_are_up_to_date(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    first = invoke("download", RAW_PID, "--target", str(target), "--checksum")
    assert first.exit_code == 0, first.stderr
    before = {p: os.lstat(target / p).st_ino for p in tree(target)}
    again = invoke("download", RAW_PID, "--target", str(target), "--checksum")
    assert again.exit_code == 0, again.stderr
    assert "(5 already in place;" in again.stdout
    assert "linked" not in again.stdout
    assert {p: os.lstat(target / p).st_ino for p in tree(target)} == before


def test_an_edited_local_file_is_never_replaced_without_force(
    invoke: Invoke, site: Site, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    args = ("download", RAW_PID, "--target", str(target), "--link")
    assert invoke(*args).exit_code == 0
    edited = target / "meta.json"
    edited.unlink()
    edited.write_text('{"run": 42, "mine": 1}\n')
    before = {p: os.lstat(target / p).st_mtime_ns for p in tree(target)}
    refused = invoke(*args)
    assert refused.exit_code == ExitCode.FILE_EXISTS
    line = one_error_line(refused)
    assert "meta.json" in line
    assert "--force" in line
    assert "force=True" not in line
    assert edited.read_text() == '{"run": 42, "mine": 1}\n'
    assert {p: os.lstat(target / p).st_mtime_ns for p in tree(target)} == before
    # An edit that keeps the size: only checksums tell (--link checks sizes).
    edited.write_text('{"run": 43}\n')
    assert invoke(*args, "--checksum").exit_code == ExitCode.FILE_EXISTS
    kept = invoke(*args)
    assert kept.exit_code == 0, kept.stderr
    assert "(5 already in place;" in kept.stdout
    assert edited.read_text() == '{"run": 43}\n'
    forced = invoke(*args, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "(1 replaced, 4 already in place;" in forced.stdout
    assert links_in(target)["meta.json"] == str(site.storage / "raw" / "meta.json")


def test_copy_replaces_the_links_of_an_earlier_link_run(
    invoke: Invoke, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    assert invoke("download", RAW_PID, "--target", str(target)).exit_code == 0
    assert len(links_in(target)) == 5
    copied = invoke("download", RAW_PID, "--target", str(target), "--copy")
    assert copied.exit_code == 0, copied.stderr
    assert "(5 replaced;" in copied.stdout
    assert links_in(target) == {}
    again = invoke("download", RAW_PID, "--target", str(target), "--copy")
    assert "(5 already in place;" in again.stdout


def test_auto_says_which_transfer_it_used(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target), "--auto")
    assert result.exit_code == 0, result.stderr
    assert "(5 linked; --auto chose link;" in result.stdout


@pytest.mark.parametrize(
    ("mode", "code"),
    [("--link", ExitCode.NOT_ACCESSIBLE), ("--auto", ExitCode.NOT_ACCESSIBLE)],
)
def test_storage_not_accessible(
    invoke: Invoke, tmp_path: Path, mode: str, code: ExitCode
) -> None:
    target = tmp_path / "out"
    result = invoke("download", MISSING_PID, "--target", str(target), mode)
    assert result.exit_code == code
    assert "not-mounted" in one_error_line(result)
    assert not target.exists()


def test_integrity_error_removes_everything(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", BAD_CHECKSUM_PID, "--target", str(target), "--checksum")
    assert result.exit_code == ExitCode.INTEGRITY
    assert "meta.json" in one_error_line(result)
    assert tree(target) == []


def test_sizes_only_without_checksum(invoke: Invoke, tmp_path: Path) -> None:
    # --link checks sizes only by default, so the wrong checksum goes unnoticed.
    target = tmp_path / "out"
    result = invoke("download", BAD_CHECKSUM_PID, "--target", str(target))
    assert result.exit_code == 0, result.stderr
    assert sorted(links_in(target)) == ["meta.json", "notes.txt"]


def test_library_warnings_are_one_line(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download", NO_ALGORITHM_PID, "--target", str(target), "-q", "--checksum"
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("alink: warning: 1 file(s) have a checksum but no")


def test_unsafe_path_in_the_dataset(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", UNSAFE_PID, "--target", str(target))
    assert result.exit_code == ExitCode.UNSAFE_PATH
    assert "unsafe path" in one_error_line(result)
    assert not target.exists()


def test_allowed_roots(invoke: Invoke, site: Site, tmp_path: Path) -> None:
    target = tmp_path / "out"
    outside = tmp_path / "elsewhere"
    refused = invoke(
        "download", RAW_PID, "--target", str(target), "--allowed-root", str(outside)
    )
    assert refused.exit_code == ExitCode.UNSAFE_PATH
    assert "allowed roots" in one_error_line(refused)
    assert not target.exists()
    # From the environment, colon-separated: one of them contains the dataset.
    roots = f"{outside}:{site.storage}"
    allowed = invoke(
        "download",
        RAW_PID,
        "--target",
        str(target),
        env={"ALINK_ALLOWED_ROOTS": roots},
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert len(links_in(target)) == len(FILES)


def test_target_that_is_a_file(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"mine")
    result = invoke("download", RAW_PID, "--target", str(target))
    assert result.exit_code == ExitCode.FILE_EXISTS
    assert "not a folder" in one_error_line(result)
    assert target.read_bytes() == b"mine"
    assert [p for p in tree(tmp_path) if p.startswith("out")] == ["out"]


def test_folder_where_a_file_should_go(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    write_tree(target, {"meta.json/keep.txt": b"mine"})
    result = invoke("download", RAW_PID, "--target", str(target))
    assert result.exit_code == ExitCode.FILE_EXISTS
    assert "meta.json" in one_error_line(result)
    assert tree(target) == ["meta.json", "meta.json/keep.txt"]


def test_unknown_pid_creates_nothing(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", "20.500.12269/nope", "--target", str(target))
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "nope" in one_error_line(result)
    assert not target.exists()


def test_missing_token_creates_nothing(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download", RAW_PID, "--target", str(target), env={"SCICAT_TOKEN": None}
    )
    assert result.exit_code == ExitCode.USAGE
    assert "SCICAT_TOKEN" in one_error_line(result)
    assert not target.exists()


def test_empty_dataset(invoke: Invoke, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = invoke("download", EMPTY_PID, "--target", str(target))
    assert result.exit_code == 0, result.stderr
    assert "0 files" in result.stdout
    # As in Scitacean, the target folder is made even with nothing in it.
    assert os.listdir(target) == []


def test_quiet_prints_nothing(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("download", RAW_PID, "--target", str(tmp_path / "out"), "-q")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""


def test_link_copy_auto_exclude_each_other_by_last_wins(
    invoke: Invoke, tmp_path: Path
) -> None:
    # click's flag group: the last of --link/--copy/--auto wins.
    target = tmp_path / "out"
    result = invoke("download", RAW_PID, "--target", str(target), "--copy", "--link")
    assert result.exit_code == 0, result.stderr
    assert len(links_in(target)) == len(FILES)


class _InterruptOnProgress(Reporter):
    """Sends this process SIGINT once part of the files are done."""

    def __init__(self) -> None:
        self.sent = False
        self.labels: list[str] = []

    def begin(self, label: str, total: int | None = None) -> None:
        self.labels.append(label)

    def update(self, done: int, total: int | None = None) -> None:
        if not self.sent and total and 0 < done < total:
            self.sent = True
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_rolls_back(
    invoke: Invoke,
    site: Site,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alink.testing import dataset_from_directory

    big = site.storage / "big"
    # Big enough that the link step reports progress before it ends (a
    # worker reports every ~25 ms), on any machine.
    write_tree(big, {f"d{i // 500}/f{i:05d}.dat": b"x" for i in range(40_000)})
    generated = dataset_from_directory(
        big, pid="20.500.12269/big", checksum_algorithm=None
    )
    site.server.add_dataset(generated.dataset, generated.orig_datablocks)
    reporter = _InterruptOnProgress()

    @contextmanager
    def fake_reporter(*, quiet: bool) -> Iterator[Reporter]:
        yield reporter

    monkeypatch.setattr(_app, "open_reporter", fake_reporter)
    target = tmp_path / "out"
    result = invoke(
        "download", "20.500.12269/big", "--target", str(target), "--keep-tree"
    )
    assert reporter.sent
    assert result.exit_code == ExitCode.INTERRUPTED
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["alink: interrupted; this run's files were removed again"]
    assert "Traceback" not in result.stderr
    assert tree(target) == []
    # The default SIGINT handling is back after the run.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    ("url", "code", "named"),
    [
        ("ftp://127.0.0.1/api", ExitCode.USAGE, "--url"),
        ("http://127.0.0.1:9/api", ExitCode.SCICAT, "127.0.0.1:9"),
    ],
)
def test_bad_or_unreachable_url_creates_nothing(
    invoke: Invoke, tmp_path: Path, url: str, code: ExitCode, named: str
) -> None:
    target = tmp_path / "out"
    result = invoke(
        "download",
        RAW_PID,
        "--target",
        str(target),
        "--url",
        url,
        "--retries",
        "0",
        url=False,
    )
    assert result.exit_code == code
    assert named in one_error_line(result)
    assert not target.exists()


def test_empty_pid(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("download", " ", "--target", str(tmp_path / "out"))
    assert result.exit_code == ExitCode.USAGE
    assert "PID is empty" in one_error_line(result)


def test_trio_backend_needs_trio(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "trio" else real(name, *a),
    )
    args = ["download", RAW_PID, "--url", site.url, "--target", str(tmp_path / "x")]
    result = CliRunner().invoke(_app.cli, [*args, "--backend", "trio"])
    assert result.exit_code == ExitCode.USAGE
    assert "trio is not installed" in one_error_line(result)
    assert not (tmp_path / "x").exists()


def test_help_and_version(invoke: Invoke) -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "demo" in result.stdout
    assert "download" in result.stdout
    assert "130 interrupted" in " ".join(result.stdout.split())
    version = invoke("--version")
    assert version.exit_code == 0
    assert version.stdout.startswith("alink, version ")


def test_no_arguments_prints_the_help_without_an_error(invoke: Invoke) -> None:
    result = invoke()
    assert result.exit_code == 0
    assert result.stdout == invoke("--help").stdout
    assert result.stdout.startswith("Usage: alink")
    assert "alink: error" not in result.stdout + result.stderr


def test_unknown_option_is_one_line(invoke: Invoke) -> None:
    result = invoke("download", RAW_PID, "--no-such-option")
    assert result.exit_code == ExitCode.USAGE
    line = one_error_line(result)
    assert "--no-such-option" in line
    assert "alink download --help" in line
