"""Cancellation at arbitrary points: the disk is exactly as before (or the
download completed before the cancellation arrived), and a re-run completes.

Cancellation comes from deadlines spread over a whole run (also inside the
copies of large files), from inside the progress callback at every one of
its calls, from a sibling task cancelling the surrounding task group, and
again while the rollback runs. Every test runs over the transfers (see
``_helpers.KINDS``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from alink.transfer import _copy_ops
from alink.transfer._engine import Engine

from ._helpers import (
    Fault,
    World,
    big_world,
    injected,
    kinds,
    make_tree,
    open_below,
)

pytestmark = pytest.mark.anyio

Snap = Callable[[Path], dict[str, Any]]


Source = tuple[Path, list[str]]


@pytest.fixture(scope="module")
def source_1k(tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("src1k")
    return root, make_tree(root, 2, 500)


@pytest.fixture(scope="module")
def source_2k(tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("src2k")
    return root, make_tree(root, 4, 500)


@pytest.fixture(scope="module")
def source_5k(tmp_path_factory: pytest.TempPathFactory) -> Source:
    root = tmp_path_factory.mktemp("src5k")
    return root, make_tree(root, 5, 1000)


#: Tiny batches: many progress calls, many points to cancel at.
TINY = Engine(min_batch=8, max_batch=64, slice_seconds=0)  # progress per batch


def fresh(
    root: Path, source: Source, kind: str, *, small_batches: bool = False
) -> World:
    """A world over ``source``, rebuilt from scratch."""
    if root.exists():
        shutil.rmtree(root)
    return big_world(root, *source, engine=TINY if small_batches else None, kind=kind)


class CancelAt:
    """A progress callback that cancels ``scope`` on its call number ``n``."""

    def __init__(self, n: int, scope: anyio.CancelScope) -> None:
        self.n = n
        self.scope = scope
        self.seen = 0
        #: ``done`` when it cancelled, or ``None``.
        self.at: int | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.seen == self.n:
            self.at = done
            self.scope.cancel()
        self.seen += 1


class Attempt:
    """One download that may be cancelled; records whether it returned."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.returned = False

    async def __call__(self, **kwargs: Any) -> None:
        await self.world.download(**kwargs)
        self.returned = True


def check_after(
    attempt: Attempt, before: dict[str, Any], snapshot: Snap, label: object
) -> None:
    """Either the download returned (complete) or the disk is unchanged;
    either way nothing below the world is held open."""
    if attempt.returned:
        attempt.world.assert_complete()
    else:
        assert snapshot(attempt.world.root) == before, label
        assert open_below(attempt.world.root) == [], label


@pytest.mark.parametrize(
    "kind", kinds("link", "copy", slow=["hardlink"]), indirect=True
)
async def test_deadlines_across_a_whole_run(
    tmp_path: Path, snapshot: Snap, source_1k: Source, kind: str
) -> None:
    root = tmp_path / "w"
    world = fresh(root, source_1k, kind)
    before = snapshot(root)
    # Measure one run (only to spread the deadlines; nothing is asserted on it).
    start = time.perf_counter()
    await world.download()
    full = time.perf_counter() - start
    outcomes = {True: 0, False: 0}
    count = 30 if kind == "link" else 12
    for i in range(count):
        deadline = full * 1.2 * i / (count - 1)
        world = fresh(root, source_1k, kind)
        attempt = Attempt(world)
        with anyio.move_on_after(deadline) as scope:
            await attempt()
        if not attempt.returned:
            assert scope.cancelled_caught
        check_after(attempt, before, snapshot, deadline)
        outcomes[attempt.returned] += 1
    # Deadline 0 cancels before anything happens.
    assert outcomes[False] >= 1
    world = fresh(root, source_1k, kind)
    await world.download()
    world.assert_complete()


@pytest.mark.parametrize(
    ("kind", "size", "small_batches"),
    [
        pytest.param("link", "2k", False, id="link-adaptive"),
        pytest.param("link", "1k", True, id="link-tiny"),
        pytest.param("copy", "1k", True, id="copy-tiny"),
        *(
            pytest.param(kind, size, tiny, marks=pytest.mark.slow, id=f"{kind}-{label}")
            for kind in ("link", "copy", "hardlink")
            for size, tiny, label in [
                ("2k", False, "adaptive"),
                ("1k", True, "tiny"),
                ("5k", True, "tiny-5k"),
            ]
            if (kind, label)
            not in {("link", "adaptive"), ("link", "tiny"), ("copy", "tiny")}
        ),
    ],
    indirect=["kind"],
)
async def test_cancel_from_the_progress_callback_at_every_call(
    tmp_path: Path,
    snapshot: Snap,
    request: pytest.FixtureRequest,
    kind: str,
    size: str,
    small_batches: bool,
) -> None:
    source: Source = request.getfixturevalue(f"source_{size}")
    total = len(source[1])
    root = tmp_path / "w"
    world = fresh(root, source, kind, small_batches=small_batches)
    before = snapshot(root)
    calls: list[tuple[int, int]] = []
    await world.download(progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, total)
    assert calls[-1] == (total, total)
    if small_batches:
        assert len(calls) > total // 64
    # Batch sizes adapt to timing, so a run may make more or fewer calls
    # than the measured one: go on until a run is not cancelled at all.
    rolled_back = 0
    for n in itertools.count():
        world = fresh(root, source, kind, small_batches=small_batches)
        attempt = Attempt(world)
        with anyio.CancelScope() as scope:
            cancel = CancelAt(n, scope)
            await attempt(progress=cancel)
        if cancel.at is None:
            assert attempt.returned
            break
        # Cancelled while files were still being made: all undone, unless
        # other workers finished the last batches before the cancellation
        # reached the download (then it returns, complete).
        check_after(attempt, before, snapshot, n)
        rolled_back += not attempt.returned
    # (Runs differ in how many calls they make: two workers and adaptive
    # batches. The sweep ends at the first run with fewer than n calls.)
    assert n >= total // 64 if small_batches else n >= 1
    assert rolled_back >= n // 2
    world = fresh(root, source, kind)
    await world.download()
    world.assert_complete()


async def test_an_error_from_the_progress_callback_rolls_back(
    tmp_path: Path, snapshot: Snap, source_2k: Source, kind: str
) -> None:
    """The callback's own exception reaches the caller, plain (no group)."""
    root = tmp_path / "w"
    for n in (0, 1, 3):
        world = fresh(root, source_2k, kind, small_batches=True)
        before = snapshot(root)
        seen = 0

        def progress(done: int, total: int, n: int = n) -> None:
            nonlocal seen
            seen += 1
            if seen > n:
                raise LookupError(f"stop at {done}")

        with pytest.raises(LookupError, match="stop at"):
            await world.download(progress=progress)
        assert snapshot(root) == before


@pytest.mark.parametrize(
    ("kind", "after"),
    [
        ("link", 1),
        ("link", 3),
        ("link", 10),
        ("copy", 3),
        ("hardlink", 3),
        *(
            pytest.param(kind, after, marks=pytest.mark.slow)
            for kind in ("copy", "hardlink")
            for after in (1, 10)
        ),
    ],
    indirect=["kind"],
)
async def test_a_sibling_cancelling_the_task_group(
    tmp_path: Path, snapshot: Snap, source_2k: Source, kind: str, after: int
) -> None:
    root = tmp_path / "w"
    world = fresh(root, source_2k, kind, small_batches=True)
    before = snapshot(root)
    attempt = Attempt(world)
    progressed = anyio.Event()
    seen = 0

    def progress(done: int, total: int) -> None:
        nonlocal seen
        seen += 1
        if seen > after:
            progressed.set()

    async def sibling(tg: anyio.abc.TaskGroup) -> None:
        await progressed.wait()
        tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sibling, tg)
        tg.start_soon(lambda: attempt(progress=progress))
    assert not attempt.returned
    assert snapshot(root) == before
    await world.download()
    world.assert_complete()


async def test_a_failing_sibling_leaves_only_its_own_error(
    tmp_path: Path, snapshot: Snap, source_2k: Source, kind: str
) -> None:
    root = tmp_path / "w"
    world = fresh(root, source_2k, kind, small_batches=True)
    before = snapshot(root)
    progressed = anyio.Event()

    async def sibling() -> None:
        await progressed.wait()
        raise KeyError("sibling failed")

    with pytest.raises(BaseExceptionGroup) as info:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sibling)
            tg.start_soon(
                lambda: world.download(progress=lambda d, t: d and progressed.set())
            )
    # Only the sibling's error: the download's cancellation is not an error.
    assert [type(e) for e in info.value.exceptions] == [KeyError]
    assert snapshot(root) == before


async def test_cancelled_again_while_rolling_back(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    source_2k: Source,
    kind: str,
) -> None:
    """The rollback runs shielded: more cancellation does not cut it short."""
    root = tmp_path / "w"
    world = fresh(root, source_2k, kind, small_batches=True)  # progress mid-way
    before = snapshot(root)
    with injected(monkeypatch) as faults, anyio.CancelScope() as outer:
        inner = anyio.CancelScope()

        def cancel_outer(name: str, path: str) -> None:
            # On a worker thread, during the rollback.
            anyio.from_thread.run_sync(outer.cancel)

        def progress(done: int, total: int) -> None:
            if 0 < done < total:
                inner.cancel()

        faults.arm(
            Fault(
                at=0,
                before=cancel_outer,
                only=frozenset({"unlink"}),
                phase="rollback",
            )
        )
        with inner:
            await world.download(progress=progress)
        await anyio.lowlevel.checkpoint()  # the outer cancellation lands here
        pytest.fail("not cancelled")  # pragma: no cover
    assert outer.cancelled_caught or inner.cancelled_caught
    assert faults.faults[0].fired is not None
    assert snapshot(root) == before
    assert open_below(root) == []


# --- inside the copies of large files ---------------------------------------


@pytest.fixture(scope="module")
def source_large(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """6 files of 2 MiB: each checks for cancellation before and while it is
    copied."""
    root = tmp_path_factory.mktemp("large")
    block = os.urandom(2 << 20)
    return root, make_tree(root, 2, 3, lambda name: name.encode() + block)


@pytest.mark.parametrize("kind", ["copy", "copy-named"], indirect=True)
async def test_deadlines_inside_large_copies(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    source_large: Source,
    kind: str,
) -> None:
    """Deadlines spread over a copy of large files land between files, between
    the chunks of one file and in the kernel copy: the half-written file is
    discarded with everything else (or the download completed)."""
    monkeypatch.setattr(_copy_ops, "_CHUNK", 256 << 10)  # 8 chunks per file
    root = tmp_path / "w"
    world = fresh(root, source_large, kind)
    before = snapshot(root)
    start = time.perf_counter()
    await world.download()
    full = time.perf_counter() - start
    outcomes = {True: 0, False: 0}
    for i in range(12):
        deadline = full * 1.2 * i / 11
        world = fresh(root, source_large, kind)
        attempt = Attempt(world)
        with anyio.move_on_after(deadline):
            await attempt()
        check_after(attempt, before, snapshot, deadline)
        outcomes[attempt.returned] += 1
    assert outcomes[False] >= 1
