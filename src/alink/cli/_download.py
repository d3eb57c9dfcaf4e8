"""``alink download``: fetch a dataset and make its files available locally."""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from .._model import Dataset, File
from ..transfer.copy import CopyFileTransfer
from ..transfer.link import LinkFileTransfer
from ..transfer.select import SelectFileTransfer
from ..transfer.sftp import SFTPFileTransfer
from . import _format
from ._auth import Login, Transfer, connect
from ._exit import ExitCode
from ._progress import Reporter
from ._show import relative_path

__all__ = [
    "DownloadRequest",
    "DownloadResult",
    "Mode",
    "SftpServer",
    "VerifyLevel",
    "download",
    "make_transfer",
    "target_problem",
]

#: ``--link``, ``--copy``, ``--sftp`` alone, or ``--auto`` (link where
#: possible, else copy, else SFTP when ``--sftp`` names a server).
Mode = Literal["link", "copy", "auto", "sftp"]
#: How downloaded files are checked (``Client.download_files(verify=...)``).
VerifyLevel = Literal["checksum", "size", "none"]

_VERBS: dict[Mode, tuple[str, str]] = {
    "link": ("linking", "linked"),
    "copy": ("copying", "copied"),
    "auto": ("downloading", "downloaded"),
    "sftp": ("downloading", "downloaded"),
}
#: The past tense of each transfer's ``method`` (see ``DownloadReport.transfer``).
_DONE: dict[str, str] = {
    "link": "linked",
    "copy": "copied",
    "hard link": "hard-linked",
    "hard link and copy": "hard-linked or copied",
    "sftp": "downloaded over SFTP",
}


@dataclass(frozen=True, slots=True)
class SftpServer:
    """``--sftp [USER@]HOST[:PORT]``: the file server to download from over SSH."""

    host: str
    #: ``None``: the SSH config's port for the host, else 22.
    port: int | None = None
    username: str | None = None

    @classmethod
    def parse(cls, text: str) -> SftpServer:
        """``host``, ``user@host``, ``host:2222``, ``[::1]:2222``; ``ValueError``
        on anything else."""
        user, at, rest = text.strip().rpartition("@")
        if at and not user:
            raise ValueError("the user name before '@' is empty")
        host, port = rest, ""
        if rest.startswith("["):
            host, bracket, tail = rest[1:].partition("]")
            if not bracket or (tail and not tail.startswith(":")):
                raise ValueError("expected [IPv6]:PORT")
            port = tail[1:]
        elif rest.count(":") == 1:
            host, port = rest.split(":")
        if not host or any(c.isspace() for c in host):
            raise ValueError("the host name is empty or has spaces")
        if port and (not port.isdigit() or not 0 < int(port) < 65536):
            raise ValueError(f"{port!r} is not a TCP port")
        return cls(host=host, port=int(port) if port else None, username=user or None)

    def transfer(self, allowed_roots: Sequence[str] | None) -> SFTPFileTransfer:
        return SFTPFileTransfer(
            host=self.host,
            port=self.port,
            username=self.username,
            allowed_roots=allowed_roots,
        )


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """Everything ``alink download`` was asked to do, already validated."""

    pid: str
    target: Path
    mode: Mode
    patterns: tuple[re.Pattern[str], ...]
    keep_tree: bool
    force: bool
    verify: VerifyLevel
    allowed_roots: tuple[str, ...] | None
    sftp: SftpServer | None = None


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a download did, for the summary line."""

    dataset: Dataset
    mode: Mode
    #: How files were made (``"link"``, ``"copy"``, ...); ``None`` when
    #: nothing had to be transferred.
    transfer: str | None
    selected: int
    transferred: int
    replaced: int
    kept: int
    size: int
    seconds: float


class Phases:
    """Turns a download's callbacks into phases: making files, then verifying
    them (counted in bytes: reading checksums is what takes long), so the
    display never sits at 100 % while work goes on."""

    def __init__(self, reporter: Reporter, done_word: str, began: float) -> None:
        self._reporter = reporter
        self._done_word = done_word
        self._began = began
        self._verify_began: float | None = None
        self._files = 0

    def _made_line(self, done_word: str, made: int, kept: int, seconds: float) -> str:
        """``linked 3 files in 0.1 s``, ``3 files already in place (0.0 s)``."""
        took = _format.duration(seconds)
        if not made and kept:
            return f"{_format.plural(kept, 'file')} already in place ({took})"
        line = f"{done_word} {_format.plural(made, 'file')} in {took}"
        return line + (f", {_format.count(kept)} already in place" if kept else "")

    def verifying(
        self, files_done: int, files_total: int, bytes_done: int, bytes_total: int
    ) -> None:
        """``verify_progress`` of ``Client.download_files``."""
        reporter = self._reporter
        if self._verify_began is None:
            now = time.perf_counter()
            self._verify_began = now
            # How many of them this run made is only known at the end (a
            # transfer may find some already in place): say what is sure.
            reporter.end(
                f"{_format.plural(files_total, 'file')} ready"
                f" in {_format.duration(now - self._began)}"
            )
            reporter.begin("verifying files", total=bytes_total, unit="bytes")
        self._files = files_total
        reporter.update(
            bytes_done,
            bytes_total,
            note=f"{_format.count(files_done)}/{_format.count(files_total)} files",
        )

    def finished(self, done_word: str, made: int, kept: int = 0) -> None:
        """End the last phase: verification, or making files if none ran."""
        now = time.perf_counter()
        if self._verify_began is None:
            self._reporter.end(
                self._made_line(done_word, made, kept, now - self._began)
            )
        else:
            self._reporter.end(
                f"verified {_format.plural(self._files, 'file')}"
                f" in {_format.duration(now - self._verify_began)}"
            )


#: The end of every ``--target`` refusal: it is checked before anything is done.
_NOTHING = "nothing was created"


def target_problem(target: Path) -> tuple[ExitCode, str] | None:
    """Why ``--target`` cannot be used, and its exit code; ``None`` if it can.

    Checked before logging in, so a target that cannot work costs no request
    and creates nothing; the message names the path in the way. The
    download refuses the same things itself (a change in between is still
    caught), but later, and with the operating system's terser words.

    - ``--target``, or a folder on the way to it, is a file (or anything
      else but a folder), or a symlink on the way leads nowhere (dangling, a
      loop): ``FILE_EXISTS``, something is in the way. The folder a dangling
      link names is not created: the link may be stale, or planted.
    - ``--target`` is itself a symlink, dangling or not: ``UNSAFE_PATH``, as
      the download refuses it (a planted link must not redirect a download).
    - ``--target`` does not exist and cannot be created where it would be
      (no permission, a read-only filesystem): ``FILESYSTEM``.

    An existing target folder that cannot be written is not refused here:
    its files may all be in place already, and then nothing is written.
    """
    absolute = Path(os.path.abspath(target))
    where = f"--target {target}"
    parent = Path(absolute.anchor)
    for path in [*reversed(absolute.parents[:-1]), absolute]:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return _cannot_create(where, path, parent)
        except OSError as exc:
            return ExitCode.FILESYSTEM, (
                f"{where}: cannot look at {path} ({_reason(exc)}); {_NOTHING}"
            )
        if stat.S_ISLNK(info.st_mode):
            leads_to = _link_text(path)
            if path == absolute:
                return ExitCode.UNSAFE_PATH, (
                    f"{where} is a symlink to {leads_to}{_unfollowable(path)};"
                    " alink does not download through one: give the folder it"
                    f" leads to as --target to download there; {_NOTHING}"
                )
            try:
                info = os.stat(path)
            except OSError:
                return ExitCode.FILE_EXISTS, (
                    f"{where}: {path} is a symlink to {leads_to}"
                    f"{_unfollowable(path)}, so the folder cannot be created"
                    f" there; {_NOTHING}"
                )
        if not stat.S_ISDIR(info.st_mode):
            if path == absolute:
                return ExitCode.FILE_EXISTS, (
                    f"{where}: exists and is not a folder; {_NOTHING}"
                )
            what = (
                "a file, not a folder" if stat.S_ISREG(info.st_mode) else "not a folder"
            )
            return ExitCode.FILE_EXISTS, (
                f"{where}: {path} is {what}, so the folder cannot be created"
                f" there; {_NOTHING}"
            )
        parent = path
    return None


def _cannot_create(
    where: str, missing: Path, parent: Path
) -> tuple[ExitCode, str] | None:
    """``FILESYSTEM`` if ``missing`` cannot be made in the folder ``parent``."""
    try:
        read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        why = f"{parent} is on a read-only filesystem"
    elif not os.access(
        parent,
        os.W_OK | os.X_OK,
        effective_ids=os.access in os.supports_effective_ids,
    ):
        why = f"no permission to write in {parent}"
    else:
        return None
    return ExitCode.FILESYSTEM, f"{where}: cannot create {missing}: {why}; {_NOTHING}"


def _link_text(link: Path) -> str:
    """Where the symlink ``link`` leads, as written (``?`` if it is gone)."""
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _unfollowable(link: Path) -> str:
    """``, which does not exist`` (or why else ``link`` cannot be followed);
    ``""`` if it can."""
    try:
        os.stat(link)
    except FileNotFoundError:
        return ", which does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return ", a loop of symlinks"
        return f", which cannot be followed ({_reason(exc)})"
    return ""


def _reason(error: OSError) -> str:
    """The operating system's words for ``error``, in lower case."""
    return (error.strerror or type(error).__name__).lower()


def what_was_done(
    mode: Mode, transfer: str | None, transferred: int, replaced: int, kept: int
) -> str:
    """``3 linked, 1 replaced, 1 already in place`` (``; --auto chose link``)."""
    verb = _DONE.get(transfer, "downloaded") if transfer else _VERBS[mode][1]
    parts = []
    if transferred or not (replaced or kept):
        parts.append(f"{_format.count(transferred)} {verb}")
    if replaced:
        parts.append(f"{_format.count(replaced)} replaced")
    if kept:
        parts.append(f"{_format.count(kept)} already in place")
    chosen = f"; --auto chose {transfer}" if mode == "auto" and transfer else ""
    return ", ".join(parts) + chosen


def make_transfer(
    mode: Mode, allowed_roots: Sequence[str] | None, sftp: SftpServer | None = None
) -> Transfer:
    """The file transfer for ``--link``, ``--copy``, ``--sftp`` or ``--auto``
    (link, then copy, then SFTP when ``sftp`` is given)."""
    if mode == "link":
        return LinkFileTransfer(allowed_roots=allowed_roots)
    if mode == "copy":
        return CopyFileTransfer(allowed_roots=allowed_roots)
    if mode == "sftp":
        if sftp is None:
            raise ValueError("--sftp needs a server")
        return sftp.transfer(allowed_roots)
    children: list[Transfer] = [
        LinkFileTransfer(allowed_roots=allowed_roots),
        CopyFileTransfer(allowed_roots=allowed_roots),
    ]
    if sftp is not None:
        children.append(sftp.transfer(allowed_roots))
    return SelectFileTransfer(children)


def _selector(
    dataset: Dataset, patterns: Sequence[re.Pattern[str]]
) -> bool | Callable[[File], bool]:
    """``True``, or a predicate: any pattern is found in the file's path below
    the source folder (as ``alink show`` lists it)."""
    if not patterns:
        return True
    folder = dataset.source_folder

    def chosen(file: File) -> bool:
        path = relative_path(file, folder)
        return any(p.search(path) for p in patterns)

    return chosen


async def download(
    request: DownloadRequest, login: Login, reporter: Reporter
) -> DownloadResult:
    """Fetch the dataset, then link / copy its (selected) files, all or nothing."""
    transfer = make_transfer(request.mode, request.allowed_roots, request.sftp)
    async with connect(login, transfer) as client:
        reporter.begin(f"fetching dataset {request.pid}")
        dataset = await client.get_dataset(request.pid)
        on_remote = [f for f in dataset.files if f.is_on_remote]
        reporter.end(
            f"fetched dataset {request.pid}:"
            f" {_format.plural(len(on_remote), 'file')},"
            f" {_format.size(sum(f.size for f in on_remote))}"
        )
        select = _selector(dataset, request.patterns)
        chosen = [f for f in on_remote if select(f)] if callable(select) else on_remote
        if request.patterns and not chosen:
            shown = " ".join(f"--select {p.pattern!r}" for p in request.patterns)
            raise click.UsageError(
                f"no file of dataset {request.pid} matches {shown}"
                f" ({_format.plural(len(on_remote), 'file')} listed; `alink show"
                f" {request.pid}` lists them)"
            )
        doing, done_word = _VERBS[request.mode]
        reporter.begin(f"{doing} files", total=len(chosen))
        began = time.perf_counter()
        phases = Phases(reporter, done_word, began)
        report = await client.download_files_with_report(
            dataset,
            target=request.target,
            select=select,
            force=request.force,
            keep_tree=request.keep_tree,
            verify=request.verify,
            progress=reporter.update,
            verify_progress=phases.verifying,
        )
        seconds = time.perf_counter() - began
        if report.transfer is not None:
            done_word = _DONE.get(report.transfer, "downloaded")
        phases.finished(done_word, report.transferred + report.replaced, report.kept)
    return DownloadResult(
        dataset=report.dataset,
        mode=request.mode,
        transfer=report.transfer,
        selected=report.selected,
        transferred=report.transferred,
        replaced=report.replaced,
        kept=report.kept,
        size=sum(f.size for f in chosen),
        seconds=seconds,
    )
