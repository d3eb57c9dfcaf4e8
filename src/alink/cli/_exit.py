"""Exit codes of the ``alink`` command and the one-line message for each error.

Every failure the command expects maps to its own exit code, so scripts can
tell "the dataset does not exist" from "the storage is not mounted here"
without parsing text. The table is documented in ``docs/cli.md``; a test
keeps the two in step.
"""

from __future__ import annotations

import enum
import errno
import os

import click

from .._errors import (
    DuplicateLocalPathError,
    FileNotAccessibleError,
    IntegrityError,
    LocalFileConflictError,
    ScicatCommError,
    ScicatLoginError,
    UnsafePathError,
)

__all__ = ["ExitCode", "classify"]


class ExitCode(enum.IntEnum):
    """What ``alink`` returns to the shell."""

    OK = 0
    """Everything worked."""
    ERROR = 1
    """An unexpected error (a bug, or something alink does not know about)."""
    USAGE = 2
    """Bad command line: unknown option, bad URL or regex, missing token, ..."""
    LOGIN = 3
    """SciCat rejected the login (wrong password, expired token)."""
    NOT_FOUND = 4
    """The dataset does not exist, or SciCat refuses to show it."""
    SCICAT = 5
    """SciCat could not be reached or answered something unusable."""
    NOT_ACCESSIBLE = 6
    """The dataset's files cannot be reached from this machine."""
    INTEGRITY = 7
    """A downloaded file does not match the catalogue (size or checksum)."""
    FILE_EXISTS = 8
    """Something is already where a downloaded file should go."""
    UNSAFE_PATH = 9
    """A path would escape the dataset or the allowed roots."""
    INVALID_DATASET = 10
    """The dataset cannot be downloaded as it is (no source folder, two files
    with one local name, an unknown checksum algorithm, ...)."""
    FILESYSTEM = 11
    """The local filesystem refused (permission denied, disk full, ...)."""
    DATASETS_FAILED = 12
    """Several datasets were asked for and some failed, for different reasons
    (each one's reason is on standard error; when all failures share a reason,
    its own code is used instead)."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C or SIGTERM); what the run had created was undone."""


def classify(error: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one-line message for an error.

    The message is the error's own text (alink's errors are written to be read
    by people and never contain a token), prefixed where the text alone would
    not say what went wrong.
    """
    code, text = _classify(error)
    for python, command_line in _HINTS:
        text = text.replace(python, command_line)
    if len(text) > _LONGEST:
        text = text[: _LONGEST - 40].rstrip() + " ... (cut; --debug shows it all)"
    return code, text


#: The library's hints name Python keywords; what the command line offers
#: instead (it has no option for some of them, on purpose).
_HINTS = (
    (
        "pass follow_target_symlinks=True to download through it",
        "give the folder it leads to as --target to download there",
    ),
    (
        "pass follow_external_symlinks=True to allow",
        "the command line never follows such links",
    ),
    (
        "pass checksum_algorithm=... to override them or verify='size' to check"
        " sizes only",
        "pass --no-checksum to check sizes only",
    ),
    (
        ", or, for a host never seen before, pass accept_unknown_host_keys=True",
        "",
    ),
)

#: The longest error line printed (a whole message is one line on a terminal).
_LONGEST = 800


def _classify(error: BaseException) -> tuple[ExitCode, str]:
    text = " ".join(str(error).split()) or type(error).__name__
    # Order matters: UnsafePathError is a ValueError, FileExistsError an OSError.
    if isinstance(error, click.ClickException):
        return ExitCode.USAGE, error.format_message()
    if isinstance(error, ScicatLoginError):
        return ExitCode.LOGIN, text
    if isinstance(error, ScicatCommError):
        if error.status_code in (401, 403, 404):
            return ExitCode.NOT_FOUND, text
        return ExitCode.SCICAT, text
    if isinstance(error, FileNotAccessibleError):
        return ExitCode.NOT_ACCESSIBLE, text
    if isinstance(error, IntegrityError):
        return ExitCode.INTEGRITY, text
    if isinstance(error, UnsafePathError):
        return ExitCode.UNSAFE_PATH, f"unsafe path: {text}"
    # The library's hints name Python keywords; the command line has flags.
    if isinstance(error, LocalFileConflictError):
        return ExitCode.FILE_EXISTS, f"{error.summary} (pass --force to replace them)"
    if isinstance(error, DuplicateLocalPathError):
        hint = (
            "pass --keep-tree to keep the remote sub-folders, or --select fewer files"
            if error.flat
            else "--select fewer files"
        )
        return ExitCode.INVALID_DATASET, f"{error.summary} ({hint})"
    if isinstance(error, FileExistsError):
        return ExitCode.FILE_EXISTS, _os_text(error, "already exists")
    if isinstance(error, NotADirectoryError):
        # A file where a folder is needed (a dataset's folder, or one on the
        # way to --target): in the way, as a --target that is a file is.
        return ExitCode.FILE_EXISTS, _not_a_folder_text(error)
    if isinstance(error, ValueError | TypeError):
        return ExitCode.INVALID_DATASET, text
    if isinstance(error, OSError):
        return ExitCode.FILESYSTEM, _os_text(error, "filesystem error")
    return ExitCode.ERROR, f"unexpected error ({type(error).__name__}): {text}"


def _not_a_folder_text(error: NotADirectoryError) -> str:
    """``NotADirectoryError`` text; the system's bare "Not a directory" (from
    making ``a/b`` when ``a`` is a file) says what it means."""
    text = _os_text(error, "not a folder")
    if error.errno == errno.ENOTDIR and error.strerror == os.strerror(errno.ENOTDIR):
        text += " (a folder on that path is a file, so nothing can be made there)"
    return text


def _os_text(error: OSError, fallback: str) -> str:
    """``OSError`` text: alink's own message, or ``strerror: filename``.

    A two-path error (``symlink(remote, local)`` refused) names the local
    path, the one that could not be written, and then where it should lead.
    """
    if error.strerror and error.filename2 is not None:
        return f"{error.strerror}: {error.filename2!s} (from {error.filename!s})"
    if error.strerror and error.filename is not None:
        return f"{error.strerror}: {error.filename!s}"
    return " ".join(str(error).split()) or fallback
