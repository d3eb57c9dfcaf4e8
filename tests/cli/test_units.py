"""Pieces of the CLI on their own: formatting, progress display, exit codes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import click
import pytest
from rich.console import Console

from alink import (
    FileNotAccessibleError,
    IntegrityError,
    RemotePath,
    ScicatCommError,
    ScicatLoginError,
    UnsafePathError,
)
from alink.cli import ExitCode, _format, _progress
from alink.cli._download import what_was_done
from alink.cli._exit import classify

DOCS = Path(__file__).parents[2] / "docs" / "cli.md"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**5, "3.0 PiB"),
    ],
)
def test_size(n: int, text: str) -> None:
    assert _format.size(n) == text


def test_counts_durations_rates() -> None:
    assert _format.plural(1, "file") == "1 file"
    assert _format.plural(20000, "file") == "20,000 files"
    assert _format.duration(0.0012) == "1.2 ms"
    assert _format.duration(1.234) == "1.23 s"
    assert _format.duration(75) == "1 min 15 s"
    assert _format.rate(20000, 0.15) == "133,000 files/s"
    assert _format.rate(10, 2) == "5 files/s"
    assert _format.rate(10, 0) == "- files/s"


@pytest.mark.parametrize(
    ("transfer", "line"),
    [
        ("hard link", "3 hard-linked"),
        ("copy", "3 copied"),
        ("hard link and copy", "3 hard-linked or copied"),
    ],
)
def test_summary_says_how_files_were_made(transfer: str, line: str) -> None:
    """The transfer's ``method`` after the download, in the past tense."""
    assert what_was_done("copy", transfer, 3, 0, 0) == line


def test_plain_lines() -> None:
    clock = [100.0]
    stream = io.StringIO()
    lines = _progress._Lines(stream, clock=lambda: clock[0])
    lines.begin("linking files", total=2000)
    lines.update(100, 2000)  # too soon after the start: not shown
    clock[0] += 1.5
    lines.update(1000, 2000)
    clock[0] += 0.5
    lines.update(1500, 2000)  # too soon after the last line
    clock[0] += 5
    lines.update(2000, 2000)  # the end line says it instead
    lines.end("linked 2,000 files in 0.1 s")
    lines.begin("fetching")  # never ended: interrupted, so no "done" line
    lines.begin("checking")
    lines.end()
    assert stream.getvalue().splitlines() == [
        "linking files (2,000) ...",
        "linking files: 1,000/2,000 (50%)",
        "linked 2,000 files in 0.1 s",
        "fetching ...",
        "checking ...",
        "checking: done",
    ]


def test_plain_lines_in_bytes_with_a_note() -> None:
    clock = [100.0]
    stream = io.StringIO()
    lines = _progress._Lines(stream, clock=lambda: clock[0])
    lines.begin("verifying files", total=3 << 30, unit="bytes")
    clock[0] += 2
    lines.update(1 << 30, 3 << 30, note="700/2,000 files")
    lines.end("verified 2,000 files in 4.0 s")
    assert stream.getvalue().splitlines() == [
        "verifying files (3.0 GiB) ...",
        "verifying files: 1.0 GiB/3.0 GiB (33%), 700/2,000 files",
        "verified 2,000 files in 4.0 s",
    ]


def test_bar_counts_bytes_with_a_note() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    bar = _progress._Bar(console)
    try:
        bar.begin("verifying files", total=2 << 20, unit="bytes")
        bar.update(1 << 20, 2 << 20, note="3/7 files")
        task = bar._progress.tasks[0]
        text = _progress._Count().render(task).plain
        assert text == "1.0 MiB/2.0 MiB 3/7 files"
    finally:
        bar.close()


def test_bar_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with _progress.open_reporter(quiet=False, console=console) as reporter:
        assert isinstance(reporter, _progress._Bar)
        reporter.begin("linking files", total=10)
        reporter.update(4, 10)
        reporter.end("linked 10 files")
        reporter.begin("verifying")
        reporter.end()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "0/10" in text  # the counted phase had a bar with its count
    # Finished phases stay as one line each, the summary replacing the label.
    assert "✓ linked 10 files" in text
    assert "✓ verifying" in text


def test_reporter_choice() -> None:
    pipe = Console(file=io.StringIO(), force_terminal=False)
    with _progress.open_reporter(quiet=False, console=pipe) as reporter:
        assert isinstance(reporter, _progress._Lines)
    with _progress.open_reporter(quiet=True, console=pipe) as reporter:
        assert type(reporter) is _progress.Reporter
        reporter.begin("x", 1)
        reporter.update(1, 1)
        reporter.end()
    assert pipe.file.getvalue() == ""  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (click.UsageError("bad"), ExitCode.USAGE),
        (ScicatLoginError("no"), ExitCode.LOGIN),
        (ScicatCommError("gone", status_code=404), ExitCode.NOT_FOUND),
        (ScicatCommError("no", status_code=403), ExitCode.NOT_FOUND),
        (ScicatCommError("down", status_code=None), ExitCode.SCICAT),
        (ScicatCommError("bad gateway", status_code=502), ExitCode.SCICAT),
        (
            FileNotAccessibleError("x", remote_path=RemotePath("/x")),
            ExitCode.NOT_ACCESSIBLE,
        ),
        (IntegrityError("x"), ExitCode.INTEGRITY),
        (FileExistsError("x"), ExitCode.FILE_EXISTS),
        (UnsafePathError("x"), ExitCode.UNSAFE_PATH),
        (ValueError("no source folder"), ExitCode.INVALID_DATASET),
        (PermissionError(13, "Permission denied", "/t"), ExitCode.FILESYSTEM),
        (KeyError("bug"), ExitCode.ERROR),
    ],
)
def test_classify(error: BaseException, code: ExitCode) -> None:
    got, message = classify(error)
    assert got == code
    assert "\n" not in message
    assert message


def test_messages_are_one_line() -> None:
    assert classify(IntegrityError("a\nb  c"))[1] == "a b c"
    assert classify(PermissionError(13, "Permission denied", "/t"))[1] == (
        "Permission denied: /t"
    )


def test_a_refused_link_names_the_local_path_first() -> None:
    # os.symlink(remote, local) on a read-only target: the local path is the
    # one that could not be written.
    error = OSError(
        30, "Read-only file system", "/facility/raw/a.dat", None, "/t/a.dat"
    )
    code, message = classify(error)
    assert code == ExitCode.FILESYSTEM
    assert message == "Read-only file system: /t/a.dat (from /facility/raw/a.dat)"


def test_a_huge_message_is_cut_to_one_readable_line() -> None:
    code, message = classify(ValueError("x" * 50_000))
    assert code == ExitCode.INVALID_DATASET
    assert len(message) <= 800
    assert message.endswith("(cut; --debug shows it all)")


def test_exit_codes_are_documented() -> None:
    """docs/cli.md has a row ``| N | NAME | ... |`` for every exit code, and
    ``alink --help`` mentions each code."""
    rows = {
        int(m[1]): m[2]
        for m in re.finditer(r"^\| (\d+) \| `(\w+)` \|", DOCS.read_text(), re.M)
    }
    assert rows == {int(c): c.name for c in ExitCode}
    from alink.cli import cli

    assert cli.help is not None
    helptext = " ".join(cli.help.split())
    for code in ExitCode:
        assert re.search(rf"\b{int(code)} ", helptext), code


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            UnsafePathError(
                "1 remote file(s) are symlinks that resolve outside the dataset's"
                " source folder (pass follow_external_symlinks=True to allow): 'x'"
            ),
            "(the command line never follows such links)",
        ),
        (
            ValueError(
                "the dataset's checksum algorithm(s) 'x' are not supported here;"
                " pass checksum_algorithm=... to override them or verify='size' to"
                " check sizes only"
            ),
            "pass --no-checksum to check sizes only",
        ),
        (
            FileNotAccessibleError(
                "the host key of h is not trusted. Verify the key and add it to"
                " known_hosts (e.g. connect once with `ssh`), or, for a host never"
                " seen before, pass accept_unknown_host_keys=True"
            ),
            "connect once with `ssh`)",
        ),
    ],
)
def test_python_hints_become_command_line_hints(
    error: BaseException, expected: str
) -> None:
    message = classify(error)[1]
    assert message.endswith(expected) or expected + ":" in message, message
    assert "=True" not in message
    assert "=..." not in message


def test_show_lists_each_file_on_one_line_whatever_its_name() -> None:
    from alink import Dataset, File
    from alink.cli._show import as_text

    names = ["plain.dat", "two\nlines.dat", "tab\there.dat", "ünï cödé.dat"]
    dataset = Dataset(
        type="raw",
        source_folder="/d",
        files=[File.from_remote(n, 1, None) for n in names],
    )
    lines = list(as_text(dataset))
    listing = lines[lines.index(next(x for x in lines if x.endswith("PATH"))) + 1 :]
    assert len(listing) == len(names)
    assert listing[0].endswith("  plain.dat")
    assert listing[1].endswith("  'two\\nlines.dat'")
    assert listing[2].endswith("  'tab\\there.dat'")
    assert listing[3].endswith("  ünï cödé.dat")


def test_every_rewritten_hint_is_still_in_the_library() -> None:
    # The command line rewrites the library's hints by their text: a change of
    # wording there must not leave a Python keyword in the CLI's messages.
    from alink.cli._exit import _HINTS

    source = Path(__file__).parents[2] / "src" / "alink"
    text = " ".join(
        " ".join(p.read_text().split())
        for p in source.rglob("*.py")
        if "cli" not in p.parts
    )
    # Adjacent string literals join in the messages; in the source they are
    # separated by a quote, whitespace and a quote.
    joined = re.sub(r'"\s*f?"', "", text)
    for python, _ in _HINTS:
        assert python in joined, python
