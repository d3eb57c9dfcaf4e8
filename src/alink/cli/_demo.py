"""``alink demo``: the whole of alink on one machine, with no network and no set-up.

1. Make temporary "facility storage": a generated dataset of many small
   files in nested folders (on ``/dev/shm`` when it exists, so the demo shows
   alink rather than a slow disk).
2. Start the :class:`alink.testing.ScicatServer` double on 127.0.0.1 and
   register the dataset there (with md5 checksums) and a demo user.
3. Log in with :class:`alink.Client`, fetch the dataset with its file list,
   and link every file with :class:`~alink.transfer.link.LinkFileTransfer`
   (keeping the folder tree), verifying sizes and checksums.
4. Check every link independently, measure how long the event loop was
   blocked at most (a ticker task), report, and clean up.
"""

from __future__ import annotations

import gc
import hashlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread

from ..client import Client
from ..testing import ScicatServer, make_dataset
from ..transfer.link import LinkFileTransfer
from . import _format
from ._download import Phases, VerifyLevel
from ._lag import measure_loop_lag
from ._progress import Reporter

__all__ = ["DemoOptions", "DemoResult", "demo", "scratch_root"]

DEMO_PID = "20.500.12269/alink-demo-0042"
_USER = "demo"
#: Files written per hand-off to a worker thread (progress granularity).
_WRITE_CHUNK = 1000
#: Files per folder, and folders per scan, of the generated tree.
_PER_FOLDER = 100
_FOLDERS_PER_SCAN = 10


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``alink demo`` was asked for."""

    files: int
    file_size: int
    keep: Path | None
    verify: VerifyLevel


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo measured."""

    pid: str
    files: int
    folders: int
    size: int
    storage: Path
    target: Path
    fetch_seconds: float
    link_seconds: float
    verify_seconds: float
    verify: VerifyLevel
    worst_lag: float
    worst_lag_phase: str
    lag_interval: float
    links_checked: int
    kept: Path | None


def scratch_root() -> str | None:
    """``/dev/shm`` when it is a writable folder, else the default temp folder."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _relative(i: int) -> str:
    scan, rest = divmod(i, _PER_FOLDER * _FOLDERS_PER_SCAN)
    return f"scan{scan:04d}/detector{rest // _PER_FOLDER}/frame{i:06d}.dat"


def _content(i: int, size: int) -> bytes:
    line = f"alink demo frame {i:06d}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def _write_files(
    root: str, start: int, stop: int, size: int
) -> list[tuple[str, int, str]]:
    """On a worker thread: write files ``start`` to ``stop``; their specs."""
    specs = []
    for i in range(start, stop):
        rel = _relative(i)
        path = os.path.join(root, rel)
        if i % _PER_FOLDER == 0 or i == start:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        data = _content(i, size)
        with open(path, "xb") as f:
            f.write(data)
        specs.append((rel, size, hashlib.md5(data, usedforsecurity=False).hexdigest()))
    return specs


def _check_links(storage: str, target: str, relatives: list[str]) -> int:
    """On a worker thread: every expected link exists and points at its file,
    and nothing else is in the target. Returns how many links were checked."""
    for rel in relatives:
        path = os.path.join(target, rel)
        if not os.path.islink(path):
            raise RuntimeError(f"demo check failed: {path} is not a symlink")
        if os.readlink(path) != os.path.join(storage, rel):
            raise RuntimeError(f"demo check failed: {path} points elsewhere")
    found = sum(len(files) for _, _, files in os.walk(target))
    if found != len(relatives):
        raise RuntimeError(
            f"demo check failed: {found} entries in {target}, expected {len(relatives)}"
        )
    return len(relatives)


def _prepare_workdir(keep: Path | None) -> tuple[Path, bool]:
    """The demo's folder and whether it is ours to delete entirely.

    ``--keep DIR``: DIR must not exist or be an empty folder; nothing that was
    there before is ever touched.
    """
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="alink-demo-", dir=scratch_root())), True
    try:
        keep.mkdir(parents=True)
    except FileExistsError:
        if not keep.is_dir() or any(keep.iterdir()):
            raise FileExistsError(
                f"--keep {keep}: exists and is not an empty folder; choose a new"
                " folder for the demo's result"
            ) from None
        return keep.absolute(), False
    return keep.absolute(), True


def _remove(workdir: Path, whole: bool) -> None:
    """Delete the demo's files (and the folder itself if the demo made it)."""
    if whole:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for child in workdir.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


async def demo(options: DemoOptions, reporter: Reporter) -> DemoResult:
    """Run the demo; on any error or cancellation, remove what it created."""
    workdir, whole = await anyio.to_thread.run_sync(_prepare_workdir, options.keep)
    keep = False
    try:
        result = await _run(options, workdir, reporter)
        keep = options.keep is not None
        return result
    finally:
        if not keep:
            with anyio.CancelScope(shield=True):
                reporter.begin("cleaning up")
                await anyio.to_thread.run_sync(_remove, workdir, whole)
                reporter.end("cleaned up")


async def _make_storage(
    storage: Path, options: DemoOptions, reporter: Reporter
) -> list[tuple[str, int, str]]:
    reporter.begin("creating facility storage", total=options.files)
    specs: list[tuple[str, int, str]] = []
    for start in range(0, options.files, _WRITE_CHUNK):
        stop = min(options.files, start + _WRITE_CHUNK)
        specs += await anyio.to_thread.run_sync(
            _write_files, str(storage), start, stop, options.file_size
        )
        reporter.update(stop, options.files)
    reporter.end(
        f"created facility storage: {_format.plural(options.files, 'file')},"
        f" {_format.size(options.files * options.file_size)}"
    )
    return specs


@asynccontextmanager
async def _fixtures_set_aside() -> AsyncIterator[None]:
    """Keep the garbage collector off the objects the demo has made so far.

    A real SciCat runs on another machine; here its double, with every file
    of the dataset, lives in this process. A full collection walks all of
    them, holding the GIL (~35 ms for 20k files), and the loop lag the demo
    reports would measure the fixtures rather than alink. Frozen, they are
    skipped until the block ends.
    """
    await anyio.to_thread.run_sync(gc.collect)  # freeze only what is alive
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _run(options: DemoOptions, workdir: Path, reporter: Reporter) -> DemoResult:
    storage = workdir / "facility" / "beamline" / "run-0042"
    target = workdir / "download" / "run-0042"
    specs = await _make_storage(storage, options, reporter)
    generated = await anyio.to_thread.run_sync(
        lambda: make_dataset(
            pid=DEMO_PID,
            source_folder=storage,
            files=specs,
            files_per_block=10_000,
            owner=_USER,
            datasetName="alink demo: a generated run with many small files",
        )
    )
    password = secrets.token_urlsafe(16)
    server = ScicatServer(
        datasets=[generated.dataset],
        orig_datablocks=generated.orig_datablocks,
        users={_USER: password},
    )
    reporter.begin("starting the SciCat double")
    async with server:
        reporter.end(f"SciCat double listening at {server.url}")
        async with _fixtures_set_aside(), measure_loop_lag() as lag:
            began = time.perf_counter()
            lag.phase = "fetching"
            reporter.begin(f"logging in and fetching dataset {DEMO_PID}")
            transfer = LinkFileTransfer(allowed_roots=[str(workdir / "facility")])
            client = await Client.from_credentials(
                url=server.url,
                username=_USER,
                password=password,
                file_transfer=transfer,
            )
            async with client:
                dataset = await client.get_dataset(DEMO_PID)
                fetched = time.perf_counter()
                reporter.end(
                    f"fetched dataset {DEMO_PID}:"
                    f" {_format.plural(len(dataset.files), 'file')}"
                    f" in {_format.duration(fetched - began)}"
                )
                reporter.begin("linking files", total=len(dataset.files))
                lag.phase = "linking"
                linked = fetched
                phases = Phases(reporter, "linked", fetched)

                def progress(done: int, total: int) -> None:
                    nonlocal linked
                    reporter.update(done, total)
                    if done >= total:
                        linked = time.perf_counter()

                def verifying(*counts: int) -> None:
                    lag.phase = "verifying"
                    phases.verifying(*counts)

                result = await client.download_files(
                    dataset,
                    target=target,
                    keep_tree=True,
                    verify=options.verify,
                    progress=progress,
                    verify_progress=verifying,
                )
                finished = time.perf_counter()
                phases.finished("linked", len(result.files))
        worst, worst_phase, interval = lag.worst, lag.worst_phase, lag.interval
    reporter.begin("checking every link")
    if any(f.local_path is None for f in result.files):
        raise RuntimeError("demo check failed: a file was not downloaded")
    checked = await anyio.to_thread.run_sync(
        _check_links, str(storage), str(target), [rel for rel, _, _ in specs]
    )
    reporter.end(f"checked {_format.plural(checked, 'link')}")
    return DemoResult(
        pid=DEMO_PID,
        files=len(specs),
        folders=len({os.path.dirname(rel) for rel, _, _ in specs}),
        size=options.files * options.file_size,
        storage=storage,
        target=target,
        fetch_seconds=fetched - began,
        link_seconds=linked - fetched,
        verify_seconds=finished - linked,
        verify=options.verify,
        worst_lag=worst,
        worst_lag_phase=worst_phase,
        lag_interval=interval,
        links_checked=checked,
        kept=workdir if options.keep is not None else None,
    )


def summary(result: DemoResult) -> list[str]:
    """The lines ``alink demo`` prints on standard output."""
    checks = {
        "checksum": "size and md5 checksum of every file",
        "size": "size of every file",
        "none": "nothing (--verify none)",
    }[result.verify]
    lines = [
        f"alink demo: linked {_format.plural(result.files, 'file')} in"
        f" {_format.duration(result.link_seconds)}"
        f" ({_format.rate(result.files, result.link_seconds)})",
        f"  dataset     {result.pid}: {_format.plural(result.files, 'file')} in"
        f" {_format.plural(result.folders, 'folder')},"
        f" {_format.size(result.size)}",
        f"  fetched     in {_format.duration(result.fetch_seconds)} (login and one"
        " request to the SciCat double on 127.0.0.1)",
        f"  linked      in {_format.duration(result.link_seconds)}"
        f" ({_format.rate(result.files, result.link_seconds)}), folder tree kept",
        f"  verified    {checks}"
        + (
            f" in {_format.duration(result.verify_seconds)}"
            if result.verify != "none"
            else ""
        ),
        f"  event loop  blocked at most {_format.duration(result.worst_lag)}"
        + (f" (while {result.worst_lag_phase})" if result.worst_lag_phase else "")
        + f"; a ticker task asked every {_format.duration(result.lag_interval)}",
        f"  checked     all {_format.plural(result.links_checked, 'link')} point at"
        " their facility files",
    ]
    if result.kept is not None:
        lines.append(f"  kept        {result.target} -> {result.storage}")
    else:
        lines.append("  cleaned up  (use --keep DIR to keep the result)")
    return lines
