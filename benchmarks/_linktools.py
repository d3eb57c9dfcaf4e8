"""The tools the link scenarios compare, behind one small interface.

Each tool builds its inputs in :meth:`LinkTool.prepare` (untimed, before any
timing — ``RemotePath``/``Path`` objects for the libraries, ``str`` for the raw
loops) and reports the seconds of one run from :meth:`LinkTool.run`. Async
tools run on a chosen event loop (:class:`Backend`) and time themselves inside
it, so loop start-up is not counted. Every run is verified afterwards
(untimed): each local path must be a symlink to its remote file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ._harness import TreeSpec, remove_tree, ticking

__all__ = [
    "AlinkTickerTool",
    "AlinkTool",
    "Backend",
    "CLoopTool",
    "CpTool",
    "LinkCase",
    "LinkTool",
    "NaiveThreadTool",
    "PythonLoopSameInputsTool",
    "PythonLoopTool",
    "ScitaceanInlineTool",
    "ScitaceanTool",
    "backends",
]

T = TypeVar("T")


@dataclass(slots=True)
class LinkCase:
    """One dataset to link: a remote tree and the local folder to link into.

    Local sub-folders of the nested layout are created before timing for every
    tool alike (alink would create them itself; the raw loops and Scitacean
    cannot), so all tools do the same work: one symlink per file.
    """

    spec: TreeSpec
    remote: Path
    local: Path
    rel: list[str]

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def count(self) -> int:
        return len(self.rel)

    def sources(self) -> list[str]:
        base = str(self.remote)
        return [f"{base}/{r}" for r in self.rel]

    def targets(self, root: Path | None = None) -> list[str]:
        base = str(root if root is not None else self.local)
        return [f"{base}/{r}" for r in self.rel]

    def prepare_local(self) -> None:
        """Create the (empty) download folder and its sub-folders."""
        self.local.mkdir(parents=True, exist_ok=True)
        for sub in self.spec.subfolders():
            (self.local / sub).mkdir(exist_ok=True)

    def verify(self, root: Path | None = None, *, sample: int | None = None) -> None:
        """Check that each target is a symlink to its source; raise if not.

        ``sample`` checks every n-th file only (for the 1M-file runs).
        """
        sources = self.sources()
        targets = self.targets(root)
        step = max(1, len(targets) // sample) if sample else 1
        for i in range(0, len(targets), step):
            try:
                found = os.readlink(targets[i])
            except OSError as exc:
                raise AssertionError(f"{targets[i]}: not a symlink ({exc})") from None
            if found != sources[i]:
                raise AssertionError(
                    f"{targets[i]} links to {found!r}, expected {sources[i]!r}"
                )

    def unlink_all(self, root: Path | None = None) -> None:
        """Remove every link a run made (keeps the folders)."""
        unlink = os.unlink
        for target in self.targets(root):
            with contextlib.suppress(FileNotFoundError):
                unlink(target)
        leftovers = list(_walk_files(root or self.local))
        if leftovers:
            raise AssertionError(f"unexpected files left behind: {leftovers[:5]}")


def _walk_files(root: Path) -> list[str]:
    found = []
    for folder, _dirs, files in os.walk(root):
        found += [os.path.join(folder, f) for f in files]
    return found


# --------------------------------------------------------------------- backends


@dataclass(frozen=True, slots=True)
class Backend:
    """An event loop to run async tools on: asyncio, trio, or asyncio+uvloop."""

    name: str

    def unavailable(self) -> str | None:
        """Why this loop cannot run here, or ``None``."""
        module = {"trio": "trio", "uvloop": "uvloop"}.get(self.name)
        if module and importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[bench]')"
        return None

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``anyio.run`` on this loop."""
        if self.name == "uvloop":
            return anyio.run(
                func, *args, backend="asyncio", backend_options={"use_uvloop": True}
            )
        return anyio.run(func, *args, backend=self.name)


def backends(*names: str) -> list[Backend]:
    return [Backend(n) for n in names]


# ------------------------------------------------------------------------ tools


class LinkTool:
    """A way of creating one symlink per file of a :class:`LinkCase`."""

    name: str = "?"
    #: Extra words for the report (e.g. "includes process start").
    note: str = ""

    def unavailable(self) -> str | None:
        """Why this tool cannot run here, or ``None`` when it can."""
        return None

    def prepare(self, case: LinkCase) -> Any:
        """Build the inputs this tool is given (untimed)."""
        return None

    def run(self, case: LinkCase, inputs: Any) -> float:
        """Create every link once; return the elapsed seconds."""
        raise NotImplementedError

    def output(self, case: LinkCase) -> Path:
        """The folder the links end up in."""
        return case.local

    def cleanup(self, case: LinkCase) -> None:
        """Restore the state before :meth:`run` (untimed)."""
        case.unlink_all(self.output(case))

    def close(self) -> None:
        """Release what the tool set up (compiled programs, ...)."""


class AsyncLinkTool(LinkTool):
    """A tool whose work is a coroutine run on a :class:`Backend`."""

    label = "?"

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = f"{self.label} ({backend.name})"

    def unavailable(self) -> str | None:
        return self.backend.unavailable()

    async def arun(self, case: LinkCase, inputs: Any) -> float:
        """Create every link once, on the running loop; return elapsed seconds."""
        raise NotImplementedError

    def run(self, case: LinkCase, inputs: Any) -> float:
        return self.backend.run(self.arun, case, inputs)


def _alink_inputs(case: LinkCase) -> tuple[list[Any], list[Path]]:
    """What alink is given: ``RemotePath`` and ``Path`` lists, freshly built."""
    from alink import RemotePath

    return [RemotePath(s) for s in case.sources()], [Path(t) for t in case.targets()]


class AlinkTool(AsyncLinkTool):
    """alink's ``LinkFileTransfer``: connect, then ``download_files``."""

    label = "alink"

    def prepare(self, case: LinkCase) -> Any:
        from alink import Dataset

        dataset = Dataset(type="raw", source_folder=str(case.remote))
        return dataset, case.rel[0], *_alink_inputs(case)

    async def arun(self, case: LinkCase, inputs: Any) -> float:
        from alink.transfer.link import LinkFileTransfer

        dataset, first, remote, local = inputs
        began = time.perf_counter()
        async with LinkFileTransfer().connect_for_download(dataset, first) as con:
            await con.download_files(remote=remote, local=local)
        return time.perf_counter() - began


class AlinkTickerTool(AlinkTool):
    """alink while a task on the same loop sleeps 1 ms in a loop.

    The ticker stands for a service's other requests: it competes with
    alink's own hand-offs for the loop. Its lags are kept in :attr:`lags`
    (the caller empties it between cases).
    """

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend)
        self.name = f"alink ({backend.name}, 1 ms ticker)"
        self.lags: list[float] = []

    async def arun(self, case: LinkCase, inputs: Any) -> float:
        lags: list[float] = []
        async with ticking(lags):
            settled = len(lags)  # ticks before the run are not its lag
            elapsed = await super().arun(case, inputs)
        self.lags += lags[settled:]
        return elapsed


class NaiveThreadTool(AsyncLinkTool):
    """One ``await anyio.to_thread.run_sync(os.symlink, s, d)`` per file.

    What a straightforward async port does; it keeps the loop free but pays a
    thread hand-off per file.
    """

    label = "naive to_thread"

    def prepare(self, case: LinkCase) -> Any:
        return case.sources(), case.targets()

    async def arun(self, case: LinkCase, inputs: Any) -> float:
        sources, targets = inputs
        symlink = os.symlink
        run_sync = anyio.to_thread.run_sync
        began = time.perf_counter()
        for source, target in zip(sources, targets, strict=True):
            await run_sync(symlink, source, target)
        return time.perf_counter() - began


def _scitacean_inputs(case: LinkCase) -> Any:
    from scitacean import Dataset, RemotePath

    dataset = Dataset(type="raw", source_folder=str(case.remote))
    remote = [RemotePath(s) for s in case.sources()]
    local = [Path(t) for t in case.targets()]
    return dataset, RemotePath(case.rel[0]), remote, local


def _scitacean_link(inputs: Any) -> float:
    from scitacean.transfer.link import LinkFileTransfer

    dataset, first, remote, local = inputs
    began = time.perf_counter()
    with LinkFileTransfer().connect_for_download(dataset, first) as con:
        con.download_files(remote=remote, local=local)
    return time.perf_counter() - began


def _scitacean_missing() -> str | None:
    if importlib.util.find_spec("scitacean") is None:
        return "scitacean is not installed (pip install -e '.[bench]')"
    return None


class ScitaceanTool(LinkTool):
    """Scitacean's synchronous ``LinkFileTransfer``, called as designed."""

    name = "scitacean"

    def unavailable(self) -> str | None:
        return _scitacean_missing()

    def prepare(self, case: LinkCase) -> Any:
        return _scitacean_inputs(case)

    def run(self, case: LinkCase, inputs: Any) -> float:
        return _scitacean_link(inputs)


class ScitaceanInlineTool(AsyncLinkTool):
    """Scitacean called directly from a coroutine: what blocking the loop costs."""

    label = "scitacean inline"

    def unavailable(self) -> str | None:
        return _scitacean_missing() or super().unavailable()

    def prepare(self, case: LinkCase) -> Any:
        return _scitacean_inputs(case)

    async def arun(self, case: LinkCase, inputs: Any) -> float:
        return _scitacean_link(inputs)


class PythonLoopTool(LinkTool):
    """``for s, d in zip(...): os.symlink(s, d)`` over precomputed ``str`` paths.

    The floor for any Python implementation (no checks, no safety).
    """

    name = "python loop"

    def prepare(self, case: LinkCase) -> Any:
        return case.sources(), case.targets()

    def run(self, case: LinkCase, inputs: Any) -> float:
        sources, targets = inputs
        symlink = os.symlink
        began = time.perf_counter()
        for source, target in zip(sources, targets, strict=True):
            symlink(source, target)
        return time.perf_counter() - began


class PythonLoopSameInputsTool(LinkTool):
    """The raw loop over alink's own inputs: ``RemotePath`` and ``Path`` lists.

    ``os.symlink`` turns each ``Path`` into text itself; this is what a
    hand-written loop over a dataset's files costs, before any checks.
    """

    name = "python loop (Path inputs)"

    def prepare(self, case: LinkCase) -> Any:
        return _alink_inputs(case)

    def run(self, case: LinkCase, inputs: Any) -> float:
        remote, local = inputs
        symlink = os.symlink
        began = time.perf_counter()
        for source, target in zip(remote, local, strict=True):
            symlink(source.posix, target)
        return time.perf_counter() - began


class CpTool(LinkTool):
    """``cp -rs REMOTE DEST`` as a subprocess; the time includes process start."""

    name = "cp -rs"
    note = "includes starting the cp process (~1 ms)"

    def unavailable(self) -> str | None:
        return None if shutil.which("cp") else "cp is not on PATH"

    def output(self, case: LinkCase) -> Path:
        return case.local.with_name(case.local.name + "-cp")

    def run(self, case: LinkCase, inputs: Any) -> float:
        dest = self.output(case)
        began = time.perf_counter()
        subprocess.run(["cp", "-rs", str(case.remote), str(dest)], check=True)
        return time.perf_counter() - began

    def cleanup(self, case: LinkCase) -> None:
        remove_tree(self.output(case))


_C_SOURCE = Path(__file__).with_name("_symlink_loop.c")


class CLoopTool(LinkTool):
    """A C loop calling ``symlink()``: the physical limit of the machine.

    Compiled with ``cc -O2`` at run time into a private temporary folder. The
    program reads NUL-separated (source, target) pairs from a file (untimed)
    and times only its ``symlink()`` loop.
    """

    name = "C symlink()"

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._binary: Path | None = None
        self._error: str | None = None

    def unavailable(self) -> str | None:
        if self._binary is None and self._error is None:
            self._compile()
        return self._error

    def _compile(self) -> None:
        compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if compiler is None:
            self._error = "no C compiler (cc) on PATH"
            return
        self._dir = Path(tempfile.mkdtemp(prefix="alink-bench-cc-"))
        binary = self._dir / "symlink_loop"
        result = subprocess.run(
            [compiler, "-O2", "-o", str(binary), str(_C_SOURCE)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            self._error = f"compiling {_C_SOURCE.name} failed: {result.stderr[-300:]}"
            return
        self._binary = binary

    def prepare(self, case: LinkCase) -> Any:
        assert self._dir is not None
        pairs = self._dir / "pairs.bin"
        with open(pairs, "wb") as f:
            for source, target in zip(case.sources(), case.targets(), strict=True):
                f.write(os.fsencode(source) + b"\0" + os.fsencode(target) + b"\0")
        return pairs

    def run(self, case: LinkCase, inputs: Any) -> float:
        assert self._binary is not None
        out = subprocess.run(
            [str(self._binary), str(inputs)], check=True, capture_output=True, text=True
        )
        return float(out.stdout.strip())

    def close(self) -> None:
        if self._dir is not None:
            remove_tree(self._dir)
            self._dir = None
            self._binary = None


def close_all(tools: Sequence[LinkTool]) -> None:
    for tool in tools:
        tool.close()
