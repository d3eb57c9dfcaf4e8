"""Shared tools for the reliability suite: transfers, test worlds, fault injection.

Every suite runs over the download transfers (:data:`KINDS`): symlinks
(``LinkFileTransfer``), copies (``CopyFileTransfer()``) with each file
written as an ``O_TMPFILE`` file, hard links
(``CopyFileTransfer(hard_link=True)``), and ``"copy-staged"``: copies that
build new folders under a hidden name and rename them into place (what
``CopyFileTransfer()`` does for new folders; the other kinds have it turned
off). Some also run over ``"copy-named"``, a copy that writes named
temporary files, as on filesystems without ``O_TMPFILE``.

Fault injection works at two levels:

* :class:`FaultyOperation` wraps the engine's operation for one download
  (the link, copy or hard-link step for one pair: ``apply``, ``matches``,
  ``undo``);
* :class:`OsProxy` replaces the ``os`` module *as seen by*
  ``alink.transfer._fs`` (folders, source checks, replacing, undo) and
  ``alink.transfer._copy_ops`` (``open``, ``O_TMPFILE``, ``copy_file_range``,
  ``sendfile``, ``link``/``linkat``, ``fstat``, ``utime``, ``unlink``, ...),
  so only alink's own filesystem calls are counted and the rest of the
  process (pytest, anyio, trio) keeps the real ``os``.

Both report every call to one :class:`Faults` object, which numbers the calls
in the order they happen, notes the phase of the download each one belongs
to (see :data:`PHASES`), and makes the chosen ones fail.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import (
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial, wraps
from pathlib import Path
from typing import Any

import pytest

from alink import Dataset, RemotePath
from alink.transfer import _copy_ops, _fs, _sources, _staging
from alink.transfer._engine import Engine
from alink.transfer.copy import CopyDownloadConnection, CopyFileTransfer
from alink.transfer.link import LinkDownloadConnection, LinkFileTransfer

#: The download transfers every suite runs over.
KINDS = ("link", "copy", "hardlink", "copy-staged")

#: The phases a counted call can belong to (innermost last in ``Call.phase``):
#: ``check`` (remote files), ``dirs`` (local folders), ``scan`` (listing busy
#: target folders), ``apply`` / ``matches`` / ``undo`` (the operation),
#: ``rollback`` (everything undone after a failure) and ``commit`` (deleting
#: the backups of replaced files after success). Copies into new folders add
#: ``stage`` (choosing them, sweeping what killed runs left next to them) and
#: ``publish`` (renaming the staged folders into place).
PHASES = (
    "check",
    "stage",
    "dirs",
    "scan",
    "apply",
    "matches",
    "undo",
    "rollback",
    "publish",
    "commit",
)

#: An old, exact time given to every pre-existing entry, so an entry whose
#: times were not restored stands out in a snapshot.
OLD_NS = 1_000_000_000 * 1_000_000_000


def kinds(*names: str, slow: Sequence[str] = ()) -> list[Any]:
    """Values for ``pytest.mark.parametrize("kind", ..., indirect=True)``:
    ``names`` (default :data:`KINDS`) in the default suite, ``slow`` only
    under ``-m slow``."""
    return [
        *(names or KINDS),
        *(pytest.param(kind, marks=pytest.mark.slow) for kind in slow),
    ]


def use_kind(kind: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Prepare the process for transfers of ``kind``; returns ``kind``."""
    if kind != "copy-staged":
        monkeypatch.setattr(_staging, "plan_staging", lambda folders: None)
    if kind == "copy-named":
        monkeypatch.setattr(_copy_ops, "_unnamed_temp_supported", lambda: False)
    elif kind == "copy" and not _copy_ops._unnamed_temp_supported():
        pytest.skip("O_TMPFILE is not available here (copy-named covers it)")
    return kind


def make_transfer(
    kind: str, engine: Engine | None = None
) -> LinkFileTransfer | CopyFileTransfer:
    """The transfer of ``kind`` (see :data:`KINDS`)."""
    if kind == "link":
        return LinkFileTransfer(engine=engine)
    return CopyFileTransfer(hard_link=kind == "hardlink", engine=engine)


def os_error(code: int) -> Callable[[str, str], BaseException]:
    """A factory for the ``OSError`` subclass the kernel would raise."""

    def make(name: str, path: str) -> BaseException:
        return OSError(code, f"injected {errno.errorcode[code]} in {name}", path)

    return make


@dataclass
class Call:
    """One counted filesystem call, with the phases it was made in."""

    index: int
    name: str
    path: str
    phase: tuple[str, ...] = ()
    #: The local path the innermost operation step (apply, matches, undo)
    #: was working on, if any.
    subject: str | None = None

    @property
    def entry(self) -> str:
        """The local entry this call concerns: its operation step's, or its own."""
        return self.subject if self.subject is not None else self.path


@dataclass
class Fault:
    """Make call number ``at`` (0-based, over all counted calls) fail.

    ``error(name, path)`` builds the exception to raise; with ``before``
    instead, ``before(name, path)`` runs just before the real call (to
    simulate a race) and the call then proceeds. ``only`` restricts counting
    of ``at`` to calls of those names, ``phase`` to calls made in that phase,
    ``path`` to calls on a path ending with it; ``persist`` makes every later
    matching call fail too (a disk that stays broken).
    """

    at: int
    error: Callable[[str, str], BaseException] | None = None
    before: Callable[[str, str], None] | None = None
    only: frozenset[str] | None = None
    phase: str | None = None
    path: str | None = None
    persist: bool = False
    seen: int = 0
    raised: list[tuple[Call, BaseException]] = field(default_factory=list)
    fired: Call | None = None


class Faults:
    """Counts alink's filesystem calls and fails the chosen ones (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        #: Open descriptors alink made, by number: what they were opened on.
        self.fds: dict[int, str] = {}

    def arm(self, *faults: Fault) -> None:
        """Forget earlier calls and faults; fail according to ``faults``."""
        with self._lock:
            self.calls = []
            self.faults = list(faults)

    def _stack(self) -> list[tuple[str, str | None]]:
        stack: list[tuple[str, str | None]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @contextmanager
    def phase(self, name: str, subject: str | None = None) -> Iterator[None]:
        """Count the calls this thread makes meanwhile as made in ``name``
        (working on the local path ``subject``)."""
        stack = self._stack()
        stack.append((name, subject))
        try:
            yield
        finally:
            stack.pop()

    def describe(self, path: Any) -> str:
        """A path as text; a descriptor as what it was opened on."""
        if isinstance(path, int):
            return self.fds.get(path, f"<fd {path}>")
        if isinstance(path, bytes):
            return os.fsdecode(path)
        return str(os.fspath(path))

    def tick(self, name: str, path: Any) -> None:
        """Record one call; raise or run a race action if a fault says so."""
        text = self.describe(path)
        stack = self._stack()
        phase = tuple(name for name, _ in stack)
        subject = next((s for _, s in reversed(stack) if s is not None), None)
        action: Callable[[], None] | None = None
        with self._lock:
            call = Call(len(self.calls), name, text, phase, subject)
            self.calls.append(call)
            for fault in self.faults:
                if fault.only is not None and name not in fault.only:
                    continue
                if fault.phase is not None and fault.phase not in phase:
                    continue
                if fault.path is not None and not text.endswith(fault.path):
                    continue
                hit = fault.seen == fault.at or (
                    fault.persist and fault.seen > fault.at
                )
                fault.seen += 1
                if not hit:
                    continue
                if fault.fired is None:
                    fault.fired = call
                if fault.before is not None:
                    action = partial(fault.before, name, call.path)
                elif fault.error is not None:
                    error = fault.error(name, call.path)
                    fault.raised.append((call, error))
                    raise error
        if action is not None:
            action()


class OsProxy:
    """The ``os`` module, with alink's filesystem calls counted by ``faults``."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _counted(
        self, name: str, path: Any, func: Callable[..., Any], *a: Any, **k: Any
    ) -> Any:
        self._faults.tick(name, path)
        return func(*a, **k)

    # --- by path -----------------------------------------------------------

    def stat(self, path: Any, *a: Any, **k: Any) -> Any:
        return self._counted("stat", path, os.stat, path, *a, **k)

    def lstat(self, path: Any, *a: Any, **k: Any) -> Any:
        return self._counted("lstat", path, os.lstat, path, *a, **k)

    def scandir(self, path: Any = ".") -> Any:
        return self._counted("scandir", path, os.scandir, path)

    def mkdir(self, path: Any, *a: Any, **k: Any) -> Any:
        return self._counted("mkdir", path, os.mkdir, path, *a, **k)

    def rmdir(self, path: Any, *a: Any, **k: Any) -> Any:
        return self._counted("rmdir", path, os.rmdir, path, *a, **k)

    def readlink(self, path: Any, *a: Any, **k: Any) -> Any:
        return self._counted("readlink", path, os.readlink, path, *a, **k)

    def unlink(self, path: Any, *a: Any, **k: Any) -> Any:
        return self._counted("unlink", path, os.unlink, path, *a, **k)

    def utime(self, path: Any, *a: Any, **k: Any) -> Any:
        return self._counted("utime", path, os.utime, path, *a, **k)

    def symlink(self, src: Any, dst: Any, *a: Any, **k: Any) -> Any:
        return self._counted("symlink", dst, os.symlink, src, dst, *a, **k)

    def link(self, src: Any, dst: Any, *a: Any, **k: Any) -> Any:
        # Also ``linkat`` (with ``src_dir_fd``): an O_TMPFILE file linked in
        # through /proc/self/fd, or a hard link following a symlink.
        return self._counted("link", dst, os.link, src, dst, *a, **k)

    def replace(self, src: Any, dst: Any, *a: Any, **k: Any) -> Any:
        return self._counted("replace", dst, os.replace, src, dst, *a, **k)

    def open(self, path: Any, flags: int, *a: Any, **k: Any) -> int:
        unnamed = bool(_copy_ops._O_TMPFILE) and (
            flags & _copy_ops._O_TMPFILE == _copy_ops._O_TMPFILE
        )
        name = "open(O_TMPFILE)" if unnamed else "open"
        fd: int = self._counted(name, path, os.open, path, flags, *a, **k)
        text = self._faults.describe(path)
        self._faults.fds[fd] = f"{text}/<unnamed>" if unnamed else text
        return fd

    # --- by descriptor -----------------------------------------------------

    def close(self, fd: int) -> None:
        try:
            self._faults.tick("close", fd)
        except BaseException:
            # A failing close() still releases the descriptor (Linux): an
            # injected failure closes it, then reports the error.
            os.close(fd)
            raise
        finally:
            self._faults.fds.pop(fd, None)
        os.close(fd)

    def fstat(self, fd: int) -> Any:
        return self._counted("fstat", fd, os.fstat, fd)

    def read(self, fd: int, n: int) -> bytes:
        data: bytes = self._counted("read", fd, os.read, fd, n)
        return data

    def readv(self, fd: int, buffers: Any) -> int:
        got: int = self._counted("readv", fd, os.readv, fd, buffers)
        return got

    def write(self, fd: int, data: Any) -> int:
        wrote: int = self._counted("write", fd, os.write, fd, data)
        return wrote

    def sendfile(self, out_fd: int, in_fd: int, *a: Any, **k: Any) -> int:
        sent: int = self._counted("sendfile", out_fd, os.sendfile, out_fd, in_fd, *a)
        return sent

    def copy_file_range(self, src: int, dst: int, count: int, *a: Any) -> int:
        copied: int = self._counted(
            "copy_file_range", dst, _REAL_COPY_FILE_RANGE, src, dst, count, *a
        )
        return copied


_REAL_COPY_FILE_RANGE: Callable[..., int] | None = getattr(os, "copy_file_range", None)


class FaultyOperation:
    """Wraps an engine operation: each ``apply`` is a counted call, and the
    calls each method makes are counted in its phase."""

    def __init__(self, inner: _fs.Operation, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def apply(self, source: str, target: str) -> None:
        with self._faults.phase("apply", target):
            self._faults.tick("apply", target)
            self._inner.apply(source, target)

    def matches(self, source: str, target: str) -> bool:
        with self._faults.phase("matches", target):
            return self._inner.matches(source, target)

    def made(self, source: str, target: str) -> bool:
        # "Is this entry ours?": the same phase as matches.
        with self._faults.phase("matches", target):
            return self._inner.made(source, target)

    def undo(self, source: str, target: str) -> None:
        with self._faults.phase("undo", target):
            self._inner.undo(source, target)


def _in_phase(faults: Faults, name: str, func: Callable[..., Any]) -> Any:
    @wraps(func)
    def wrapper(*a: Any, **k: Any) -> Any:
        with faults.phase(name):
            return func(*a, **k)

    return wrapper


def _counted_call(faults: Faults, name: str, func: Callable[..., Any]) -> Any:
    """``func(source, target, ...)`` as one counted call named ``name`` on
    ``target`` (for calls that bypass ``os``, such as ``renameat2``)."""

    @wraps(func)
    def counted(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        faults.tick(name, target)
        return func(source, target, *args, **kwargs)

    return counted


def _steps_in_phase(
    faults: Faults, name: str, func: Callable[..., Iterator[object]]
) -> Any:
    """A generator function whose every step runs in phase ``name``."""

    @wraps(func)
    def wrapper(*a: Any, **k: Any) -> Iterator[object]:
        steps = func(*a, **k)
        while True:
            with faults.phase(name):
                try:
                    step = next(steps)
                except StopIteration:
                    return
            yield step

    return wrapper


def _warm_up() -> None:
    """Open the descriptors ``_copy_ops`` keeps for the whole process (``/``
    and ``/proc/self/fd``), so that the calls counted in one run do not
    depend on whether an earlier run opened them."""
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "source")
        with open(source, "wb") as file:
            file.write(b"warm-up")
        _copy_ops.CopyOperation().apply(source, os.path.join(folder, "copy"))
        _copy_ops.HardLinkOperation().apply(source, os.path.join(folder, "link"))


@contextmanager
def injected(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    """Route alink's filesystem calls through a fresh :class:`Faults`."""
    _warm_up()
    faults = Faults()
    proxy = OsProxy(faults)
    copy_prepare = CopyDownloadConnection._prepare_operation

    async def prepare(
        self: CopyDownloadConnection,
        folders: Mapping[str, int],
        staging: _staging.Staging | None,
    ) -> _fs.Operation:
        return FaultyOperation(await copy_prepare(self, folders, staging), faults)

    with monkeypatch.context() as patch:
        patch.setattr(_fs, "os", proxy)
        patch.setattr(_copy_ops, "os", proxy)
        patch.setattr(_staging, "os", proxy)
        if _REAL_COPY_FILE_RANGE is not None:
            patch.setattr(_copy_ops, "_copy_file_range", proxy.copy_file_range)
        patch.setattr(
            LinkDownloadConnection,
            "_operation",
            FaultyOperation(LinkDownloadConnection._operation, faults),
        )
        patch.setattr(CopyDownloadConnection, "_prepare_operation", prepare)
        patch.setattr(_sources, "os", proxy)
        patch.setattr(
            _sources,
            "check_sources",
            _steps_in_phase(faults, "check", _sources.check_sources),
        )
        for func, name in [
            ("ensure_dirs", "dirs"),
            ("changed_folders", "rollback"),
            ("undo_spans", "rollback"),
            ("restore_dirs", "rollback"),
        ]:
            patch.setattr(_fs, func, _in_phase(faults, name, getattr(_fs, func)))
        patch.setattr(
            _fs.ReplacingOperation,
            "commit",
            _in_phase(faults, "commit", _fs.ReplacingOperation.commit),
        )
        patch.setattr(
            _staging, "plan_staging", _in_phase(faults, "stage", _staging.plan_staging)
        )
        patch.setattr(
            _staging,
            "rename_noreplace",
            _counted_call(faults, "rename", _staging.rename_noreplace),
        )
        for method, name in [
            ("sweep", "stage"),
            ("commit", "publish"),
            ("undo", "rollback"),
            ("restore", "rollback"),
        ]:
            patch.setattr(
                _staging.Staging,
                method,
                _in_phase(faults, name, getattr(_staging.Staging, method)),
            )
        patch.setattr(
            _copy_ops.CopyOperation,
            "scan_folders",
            _in_phase(faults, "scan", _copy_ops.CopyOperation.scan_folders),
        )
        yield faults


async def outcome(awaitable: Awaitable[object]) -> Exception | None:
    """The exception ``awaitable`` raised, or ``None`` if it completed."""
    try:
        await awaitable
    except Exception as exc:
        return exc
    return None


# --- what a finished entry is -----------------------------------------------


def make_done(kind: str, source: Path, local: Path) -> None:
    """Put at ``local`` what a finished download of ``source`` leaves there."""
    local.parent.mkdir(parents=True, exist_ok=True)
    if kind == "link":
        local.symlink_to(source)
    elif kind == "hardlink":
        os.link(source, local)
    else:
        shutil.copy2(source, local)


def check_entry(
    kind: str,
    source: str,
    local: str | Path,
    *,
    copied: bool = False,
    checksum: str | None = None,
) -> None:
    """``local`` is what the transfer of ``kind`` makes of ``source``.

    A link points at the remote path. A copy is a regular file of its own
    with the remote file's content (compared with the remote file, or by
    its sha256 ``checksum`` when given) and modification time. A hard link
    is the remote file's inode (``copied``: a copy instead, where linking
    failed).
    """
    if kind == "link":
        assert os.readlink(local) == source, local
        return
    st = os.lstat(local)
    original = os.stat(source)
    assert stat.S_ISREG(st.st_mode), local
    if kind == "hardlink" and not copied:
        assert st.st_ino == original.st_ino, local
        return
    assert st.st_ino != original.st_ino, local
    assert st.st_mtime_ns == original.st_mtime_ns, local
    assert st.st_size == original.st_size, local
    if checksum is None:
        assert Path(local).read_bytes() == Path(source).read_bytes(), local
    else:
        assert digest(local) == checksum, local


def leftovers(root: Path) -> list[str]:
    """alink's temporary or backup names below ``root``."""
    return [
        os.path.join(folder, name)
        for folder, dirs, files in os.walk(root)
        for name in files + dirs
        if _fs.TEMP_MARK in name
    ]


def open_below(root: Path) -> list[str]:
    """What this process holds open below ``root`` (e.g. a leaked unnamed
    ``O_TMPFILE`` file, which lives exactly as long as its descriptor)."""
    found = []
    prefix = f"{root}/"
    for fd in os.listdir("/proc/self/fd"):
        try:
            text = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (e.g. the listing's own descriptor)
        if text.startswith(prefix):
            found.append(text)
    return found


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- test worlds ------------------------------------------------------------


@dataclass
class World:
    """A dataset on a fake remote, a download target and a bystander folder.

    Everything lives below ``root``: ``remote/ds`` (the source folder),
    ``target`` (where files go; may hold the user's own entries) and
    ``outside`` (must never change).
    """

    root: Path
    names: list[str]
    #: Indices of pairs whose local path holds a stale file to replace.
    stale: list[int] = field(default_factory=list)
    #: Engine settings for the transfer (``None``: the transfer's defaults).
    engine: Engine | None = None
    #: Which transfer downloads (see :data:`KINDS`).
    kind: str = "link"

    @property
    def source(self) -> Path:
        return self.root / "remote" / "ds"

    @property
    def target(self) -> Path:
        return self.root / "target"

    @property
    def dataset(self) -> Dataset:
        return Dataset(type="raw", source_folder=str(self.source))

    @property
    def remote(self) -> list[RemotePath]:
        return [RemotePath(f"{self.source}/{n}") for n in self.names]

    @property
    def local(self) -> list[Path]:
        return [self.target / n for n in self.names]

    def transfer(self) -> LinkFileTransfer | CopyFileTransfer:
        return make_transfer(self.kind, self.engine)

    async def download(self, *, replace: bool = False, **kwargs: Any) -> None:
        """Download every file of the world into ``target``."""
        async with self.transfer().connect_for_download(
            self.dataset, self.names[0]
        ) as con:
            await con.download_files(
                remote=self.remote,
                local=self.local,
                replace=self.stale if replace else False,
                **kwargs,
            )

    def assert_complete(self, copied: Sequence[Path] = ()) -> None:
        """Every local path holds its remote file (see :func:`check_entry`;
        hard links in ``copied`` were copied instead); no temporary entries
        remain and nothing below the world is held open."""
        for remote, local in zip(self.remote, self.local, strict=True):
            check_entry(self.kind, remote.posix, local, copied=local in copied)
        assert leftovers(self.target) == []
        assert open_below(self.root) == []


def _touch_old(path: Path) -> None:
    os.utime(path, ns=(OLD_NS, OLD_NS), follow_symlinks=False)


def age(root: Path) -> None:
    """Give every entry below ``root`` (and ``root``) the same old times."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in dirs + files:
            _touch_old(Path(folder, name))
    _touch_old(root)


def small_world(
    root: Path, *, stale: bool = False, kind: str = "link", compact: bool = False
) -> World:
    """40 files in 3 remote folders; the target already holds user entries.

    Remote: ``a/`` 20 entries (more than the per-file ``lstat`` limit, so it
    is listed; one is a symlink inside the dataset), ``b/`` 12 files (checked
    one ``lstat`` each) and ``c/deep/`` 8 files (two missing local levels).
    File sizes differ (0 to a few KiB). ``compact`` keeps 12 of them (7 in
    ``a/``, all checked one ``lstat`` each), for sweeps over transfers that
    make many calls per file.

    Target: ``a/`` exists with a user file ``notes.txt``, a user symlink
    ``mine`` and ``f3``, already what the transfer makes (a re-run's
    leftover: it must survive a rollback). With ``stale``, ``a/f5`` is an old
    regular file that the download replaces. ``outside/secret`` must never
    change.
    """
    sizes = (6, 3, 2) if compact else (19, 12, 8)
    names = [f"a/f{i}" for i in range(sizes[0])] + ["a/alias"]
    names += [f"b/f{i}" for i in range(sizes[1])]
    names += [f"c/deep/f{i}" for i in range(sizes[2])]
    world = World(root, names, kind=kind)
    for i, name in enumerate(names):
        path = world.source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "a/alias":
            path.symlink_to(world.source / "a/f0")
        else:
            path.write_bytes(f"remote {name}\n".encode() * (i * 7 % 40))
    (world.target / "a").mkdir(parents=True)
    (world.target / "a/notes.txt").write_text("the user's own notes")
    (world.target / "a/mine").symlink_to(root / "outside/secret")
    make_done(kind, world.source / "a/f3", world.target / "a/f3")
    if stale:
        (world.target / "a/f5").write_text("stale copy, but the user's")
        world.stale = [names.index("a/f5")]
    (root / "outside").mkdir()
    (root / "outside/secret").write_text("bystander")
    age(root)
    return world


def big_world(
    root: Path,
    source: Path,
    names: Sequence[str],
    engine: Engine | None = None,
    kind: str = "link",
) -> World:
    """A world over an existing (shared, read-only) remote folder."""
    world = _SharedSourceWorld(root, list(names), engine=engine, kind=kind)
    world.shared = source
    (world.target / "d0").mkdir(parents=True)
    (world.target / "d0/user.txt").write_text("keep me")
    (root / "outside").mkdir()
    (root / "outside/secret").write_text("bystander")
    age(root)
    return world


@dataclass
class _SharedSourceWorld(World):
    shared: Path = Path("/nonexistent")

    @property
    def source(self) -> Path:
        return self.shared


def make_tree(
    root: Path,
    folders: int,
    per_folder: int,
    content: Callable[[str], bytes] | None = None,
) -> list[str]:
    """Create ``folders`` x ``per_folder`` files below ``root``; each holds
    ``content(name)`` (its own name, by default)."""
    names = []
    for d in range(folders):
        (root / f"d{d}").mkdir(parents=True, exist_ok=True)
        for i in range(per_folder):
            name = f"d{d}/f{i}"
            data = name.encode() if content is None else content(name)
            fd = os.open(root / name, os.O_CREAT | os.O_WRONLY, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            names.append(name)
    return names
