"""Shared tools for the reliability suite: test worlds and fault injection.

Fault injection works at the two levels the engine uses:

* :class:`FaultyOperation` wraps a connection's ``_operation`` (the link,
  copy, ... step for one pair);
* :class:`OsProxy` replaces the ``os`` module *as seen by*
  ``alink.transfer._fs`` (folder creation, source checks, undo, restore), so
  only alink's own filesystem calls are counted and the rest of the process
  (pytest, anyio, trio) keeps the real ``os``.

Both report every call to one :class:`Faults` object, which numbers the calls
in the order they happen and makes the chosen ones fail.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from alink import Dataset, RemotePath
from alink.transfer import _fs
from alink.transfer._engine import Engine
from alink.transfer.link import LinkDownloadConnection, LinkFileTransfer

#: Calls made while checking remote files.
SOURCE_CHECKS = frozenset({"lstat", "scandir"})

#: An old, exact time given to every pre-existing entry, so an entry whose
#: times were not restored stands out in a snapshot.
OLD_NS = 1_000_000_000 * 1_000_000_000


def os_error(code: int) -> Callable[[str, str], BaseException]:
    """A factory for the ``OSError`` subclass the kernel would raise."""

    def make(name: str, path: str) -> BaseException:
        return OSError(code, f"injected {errno.errorcode[code]} in {name}", path)

    return make


@dataclass
class Call:
    """One counted filesystem call."""

    index: int
    name: str
    path: str


@dataclass
class Fault:
    """Make call number ``at`` (0-based, over all counted calls) fail.

    ``error(name, path)`` builds the exception to raise; with ``before``
    instead, ``before(name, path)`` runs just before the real call (to
    simulate a race) and the call then proceeds. ``only`` restricts counting
    of ``at`` to calls of those names; ``persist`` makes every later matching
    call fail too (a disk that stays broken).
    """

    at: int
    error: Callable[[str, str], BaseException] | None = None
    before: Callable[[str, str], None] | None = None
    only: frozenset[str] | None = None
    persist: bool = False
    seen: int = 0
    raised: list[tuple[Call, BaseException]] = field(default_factory=list)
    fired: Call | None = None


class Faults:
    """Counts alink's filesystem calls and fails the chosen ones (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.faults: list[Fault] = []

    def arm(self, *faults: Fault) -> None:
        """Forget earlier calls and faults; fail according to ``faults``."""
        with self._lock:
            self.calls = []
            self.faults = list(faults)

    def tick(self, name: str, path: str | os.PathLike[str] | int) -> None:
        """Record one call; raise or run a race action if a fault says so."""
        text = os.fspath(path) if not isinstance(path, int) else f"<fd {path}>"
        action: Callable[[], None] | None = None
        with self._lock:
            call = Call(len(self.calls), name, str(text))
            self.calls.append(call)
            for fault in self.faults:
                if fault.only is not None and name not in fault.only:
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
        return self._counted("link", dst, os.link, src, dst, *a, **k)

    def replace(self, src: Any, dst: Any, *a: Any, **k: Any) -> Any:
        return self._counted("replace", dst, os.replace, src, dst, *a, **k)


class FaultyOperation:
    """Wraps an engine operation; each ``apply`` is a counted call."""

    def __init__(self, inner: _fs.Operation, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def apply(self, source: str, target: str) -> None:
        self._faults.tick("apply", target)
        self._inner.apply(source, target)

    def matches(self, source: str, target: str) -> bool:
        return self._inner.matches(source, target)

    def undo(self, source: str, target: str) -> None:
        self._inner.undo(source, target)


@contextmanager
def injected(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    """Route alink's filesystem calls through a fresh :class:`Faults`."""
    faults = Faults()
    with monkeypatch.context() as patch:
        patch.setattr(_fs, "os", OsProxy(faults))
        patch.setattr(
            LinkDownloadConnection,
            "_operation",
            FaultyOperation(LinkDownloadConnection._operation, faults),
        )
        yield faults


async def outcome(awaitable: Awaitable[object]) -> Exception | None:
    """The exception ``awaitable`` raised, or ``None`` if it completed."""
    try:
        await awaitable
    except Exception as exc:
        return exc
    return None


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
    #: Engine settings for the transfer (``None``: the defaults).
    engine: Engine | None = None

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

    def transfer(self) -> LinkFileTransfer:
        return LinkFileTransfer(engine=self.engine)

    async def download(self, *, replace: bool = False, **kwargs: Any) -> None:
        """Link every file of the world into ``target``."""
        async with self.transfer().connect_for_download(
            self.dataset, self.names[0]
        ) as con:
            await con.download_files(
                remote=self.remote,
                local=self.local,
                replace=self.stale if replace else False,
                **kwargs,
            )

    def assert_complete(self) -> None:
        """Every local path is a link to its remote file, with its content."""
        for remote, local in zip(self.remote, self.local, strict=True):
            assert os.readlink(local) == remote.posix, local
        leftovers = [
            name
            for _, _, files in os.walk(self.target)
            for name in files
            if _fs.TEMP_MARK in name
        ]
        assert leftovers == []


def _touch_old(path: Path) -> None:
    os.utime(path, ns=(OLD_NS, OLD_NS), follow_symlinks=False)


def age(root: Path) -> None:
    """Give every entry below ``root`` (and ``root``) the same old times."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in dirs + files:
            _touch_old(Path(folder, name))
    _touch_old(root)


def small_world(root: Path, *, stale: bool = False) -> World:
    """40 files in 3 remote folders; the target already holds user entries.

    Remote: ``a/`` 20 entries (more than the per-file ``lstat`` limit, so it
    is listed; one is a symlink inside the dataset), ``b/`` 12 files (checked
    one ``lstat`` each) and ``c/deep/`` 8 files (two missing local levels).

    Target: ``a/`` exists with a user file ``notes.txt``, a user symlink
    ``mine`` and ``f3``, already the right link (a re-run's leftover: it must
    survive a rollback). With ``stale``, ``a/f5`` is an old regular file that
    the download replaces. ``outside/secret`` must never change.
    """
    names = [f"a/f{i}" for i in range(19)] + ["a/alias"]
    names += [f"b/f{i}" for i in range(12)] + [f"c/deep/f{i}" for i in range(8)]
    world = World(root, names)
    for name in names:
        path = world.source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "a/alias":
            path.symlink_to(world.source / "a/f0")
        else:
            path.write_text(f"remote {name}")
    (world.target / "a").mkdir(parents=True)
    (world.target / "a/notes.txt").write_text("the user's own notes")
    (world.target / "a/mine").symlink_to(root / "outside/secret")
    (world.target / "a/f3").symlink_to(world.source / "a/f3")
    if stale:
        (world.target / "a/f5").write_text("stale copy, but the user's")
        world.stale = [names.index("a/f5")]
    (root / "outside").mkdir()
    (root / "outside/secret").write_text("bystander")
    age(root)
    return world


def big_world(
    root: Path, source: Path, names: Sequence[str], engine: Engine | None = None
) -> World:
    """A world over an existing (shared, read-only) remote folder."""
    world = _SharedSourceWorld(root, list(names), engine=engine)
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


def make_tree(root: Path, folders: int, per_folder: int) -> list[str]:
    """Create ``folders`` x ``per_folder`` empty files below ``root``."""
    names = []
    for d in range(folders):
        (root / f"d{d}").mkdir(parents=True, exist_ok=True)
        for i in range(per_folder):
            name = f"d{d}/f{i}"
            os.close(os.open(root / name, os.O_CREAT | os.O_WRONLY, 0o644))
            names.append(name)
    return names
