"""Fault injection: any filesystem call of a download may fail; the disk must
end up exactly as it was (names, kinds, link targets, contents, and the
modification times of files and folders), and the caller must see one plain,
meaningful exception.

The calls are numbered as alink makes them (source checks, folder creation,
the link operation, replacing, rollback), and each test fails every position
in turn until a run completes without reaching the fault, so no position is
skipped.
"""

from __future__ import annotations

import errno
import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alink import FileNotAccessibleError, IntegrityError
from alink.transfer.link import LinkDownloadConnection

from ._helpers import (
    SOURCE_CHECKS,
    Call,
    Fault,
    Faults,
    World,
    big_world,
    injected,
    make_tree,
    os_error,
    outcome,
    small_world,
)

pytestmark = pytest.mark.anyio

Snap = Callable[[Path], dict[str, Any]]

ERRORS = {
    "ENOSPC": errno.ENOSPC,
    "EIO": errno.EIO,
    "EACCES": errno.EACCES,
}


def check_error(exc: BaseException, fault: Fault) -> None:
    """The caller's exception is the injected one, or the documented
    translation of it, and never an exception group."""
    assert not isinstance(exc, BaseExceptionGroup), exc
    call = fault.fired
    assert call is not None
    injected_error = fault.raised[0][1]
    if exc is injected_error:
        return
    if call.name in SOURCE_CHECKS:
        # An unreadable remote file is reported as not accessible.
        assert isinstance(exc, FileNotAccessibleError), (call, exc)
        return
    if call.name == "readlink":
        # Checking whether an existing entry is already ours failed: alink
        # cannot prove it is, so it refuses to touch it.
        assert isinstance(exc, FileExistsError), (call, exc)
        return
    if call.name == "stat" and "/remote/" in call.path:
        assert isinstance(exc, FileNotAccessibleError), (call, exc)
        return
    pytest.fail(f"unexpected {exc!r} for a fault in {call}")


def check_harmless(world: World, call: Call) -> None:
    """A download succeeded although a call failed: only where the failure
    cannot matter."""
    if call.name == "unlink" and call.path.endswith(".bak"):
        # Deleting the backup of a replaced file after success is best
        # effort: the download is complete, the old content stays in a
        # hidden backup next to it.
        backup = Path(call.path)
        assert backup.read_text() == "stale copy, but the user's"
        backup.unlink()
        world.assert_complete()
        return
    # A failed "is this already ours?" look, where the answer was "no"
    # anyway: the result is right.
    assert call.name == "readlink", f"{call} was lost"
    world.assert_complete()


async def fail_every_call(
    build: Callable[[], World],
    faults: Faults,
    snapshot: Snap,
    make_fault: Callable[[int], Fault],
    *,
    replace: bool = False,
) -> int:
    """Fail call k for k = 0, 1, ... until a download completes without
    reaching the fault; check the disk after each failure. Returns how many
    positions were failed."""
    world = build()
    before = snapshot(world.root)
    for k in itertools.count():
        fault = make_fault(k)
        faults.arm(fault)
        exc = await outcome(world.download(replace=replace))
        if exc is not None:
            assert fault.fired is not None, f"k={k}: failed without a fault: {exc!r}"
            check_error(exc, fault)
        else:
            if fault.fired is None:
                world.assert_complete()
                return k
            check_harmless(world, fault.fired)
            shutil.rmtree(world.root)
            world = build()
        assert snapshot(world.root) == before, f"k={k}: fault in {fault.fired}"
    raise AssertionError("unreachable")


@pytest.mark.parametrize("stale", [False, True], ids=["new", "replace"])
@pytest.mark.parametrize("code", list(ERRORS.values()), ids=list(ERRORS))
async def test_every_call_failing_leaves_the_disk_unchanged(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    stale: bool,
) -> None:
    with injected(monkeypatch) as faults:
        positions = await fail_every_call(
            lambda: small_world(tmp_path / "w", stale=stale),
            faults,
            snapshot,
            lambda k: Fault(at=k, error=os_error(code)),
            replace=stale,
        )
    # 40 links plus source checks and folders: every one was failed once.
    assert positions >= 55


# --- large dataset: a few positions -----------------------------------------


@pytest.fixture(scope="module")
def source_5k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("src5k")
    return root, make_tree(root, 5, 1000)


@pytest.mark.parametrize(
    "positions",
    [5, pytest.param(40, marks=pytest.mark.slow)],
    ids=["5-positions", "40-positions"],
)
async def test_faults_in_a_5k_dataset(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    source_5k: tuple[Path, list[str]],
    positions: int,
) -> None:
    """A few positions spread over a large run (first, last, in between)."""
    source, names = source_5k
    world = big_world(tmp_path / "w", source, names)
    before = snapshot(world.root)
    with injected(monkeypatch) as faults:
        faults.arm()
        await world.download()
        total = len(faults.calls)
        shutil.rmtree(world.root)
        world = big_world(tmp_path / "w", source, names)
        for step in range(positions):
            # Each failed run leaves the world as it was: the next one
            # starts from the same state.
            k = (total - 1) * step // (positions - 1)
            fault = Fault(at=k, error=os_error(errno.EIO))
            faults.arm(fault)
            with pytest.raises(Exception) as info:  # noqa: PT011
                await world.download()
            check_error(info.value, fault)
            assert snapshot(world.root) == before, fault.fired
        faults.arm()
        await world.download()
    world.assert_complete()


# --- the rollback itself fails ----------------------------------------------


def check_partial_rollback(
    before: dict[str, Any], after: dict[str, Any], failed: Call, root: Path
) -> None:
    """Only the entry whose undo failed (and the folders holding it) may
    differ, and nothing that existed before lost its kind or content."""
    rel = str(Path(failed.path).relative_to(root))
    allowed = {rel, *map(str, Path(rel).parents[:-1])}
    if failed.name == "stat":
        # The rollback could not check that a folder is still the one it
        # used: it leaves everything below it alone (and says so).
        allowed |= {name for name in after if name.startswith(f"{rel}/")}
    if rel in before and before[rel][0] == "file":
        # Putting a replaced file back failed (or checking that the entry is
        # still ours did): our link is in its place, and the user's file is
        # safe in the hidden backup next to it.
        backup = next(
            name for name in after if ".alink-" in name and name.endswith(".bak")
        )
        assert after[backup][:2] == before[rel][:2]
        allowed.add(backup)
    for name, entry in before.items():
        if name == rel and before[rel][0] == "file":
            continue
        assert name in after, f"{name} vanished"
        assert after[name][:2] == entry[:2], name
    changed = {n for n in after.keys() | before.keys() if after.get(n) != before.get(n)}
    assert changed <= allowed, (failed, changed - allowed)


async def fail_rollback_everywhere(
    build: Callable[[], World],
    faults: Faults,
    snapshot: Snap,
    step: int,
    *,
    replace: bool = False,
) -> int:
    """For every ``step``-th position of a first fault, fail each call of the
    rollback in turn. Returns how many rollback calls were failed."""
    world = build()
    before = snapshot(world.root)
    faults.arm()
    await world.download(replace=replace)
    # First faults in the local phase (a remote check that fails creates
    # nothing, so there is nothing to roll back), except where a failure is
    # harmless and not an error (see check_harmless).
    target = f"{world.target}/"
    positions = [
        call.index
        for call in faults.calls
        if call.path.startswith(target)
        and not call.path.endswith(".bak")
        and call.name != "readlink"
    ]
    shutil.rmtree(world.root)
    world = build()
    failed_undos = 0
    for k in positions[::-step]:
        for j in itertools.count():
            primary = Fault(at=k, error=os_error(errno.EIO))
            secondary = Fault(at=k + 1 + j, error=os_error(errno.EIO))
            faults.arm(primary, secondary)
            with pytest.raises(Exception) as info:  # noqa: PT011
                await world.download(replace=replace)
            assert primary.fired is not None
            check_error(info.value, primary)
            if secondary.fired is None:
                assert snapshot(world.root) == before
                break
            failed_undos += 1
            faults.arm()
            after = snapshot(world.root)
            check_partial_rollback(before, after, secondary.fired, world.root)
            if after != before:
                # The caller is told what could not be undone.
                notes = "\n".join(getattr(info.value, "__notes__", []))
                assert secondary.fired.path in notes, secondary.fired
            shutil.rmtree(world.root)
            world = build()
    return failed_undos


@pytest.mark.parametrize(
    "step", [29, pytest.param(1, marks=pytest.mark.slow)], ids=["some", "all"]
)
@pytest.mark.parametrize("stale", [False, True], ids=["new", "replace"])
async def test_rollback_failures_keep_the_error_and_the_other_undo_steps(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    stale: bool,
    step: int,
) -> None:
    """A first fault starts the rollback; then each rollback call fails in
    turn. The caller still gets the first error, with a note naming what
    could not be undone; every other step is still undone, and no user
    entry is lost."""
    with injected(monkeypatch) as faults:
        failed = await fail_rollback_everywhere(
            lambda: small_world(tmp_path / "w", stale=stale),
            faults,
            snapshot,
            step=step,
            replace=stale,
        )
    assert failed > (10 if step > 1 else 1000)


# --- failures that are not OSErrors ------------------------------------------


class _BuggyUndo:
    """An operation whose undo raises a non-OSError once (a bug, say)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls = 0

    def apply(self, source: str, target: str) -> None:
        if target.endswith("c/deep/f7"):
            raise OSError(errno.EIO, "the last link fails", target)
        self._inner.apply(source, target)

    def matches(self, source: str, target: str) -> bool:
        return bool(self._inner.matches(source, target))

    def undo(self, source: str, target: str) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("bug in undo")
        self._inner.undo(source, target)


async def test_an_undo_step_raising_a_non_oserror_does_not_stop_the_others(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = small_world(tmp_path / "w")
    before = snapshot(world.root)
    buggy = _BuggyUndo(LinkDownloadConnection._operation)
    monkeypatch.setattr(LinkDownloadConnection, "_operation", buggy)
    with pytest.raises(OSError, match="the last link fails") as info:
        await world.download()
    assert "bug in undo" in "\n".join(info.value.__notes__)
    assert buggy.calls > 30
    after = snapshot(world.root)
    # Exactly one link (the one whose undo failed) is left, and its folder.
    extra = {k for k in after.keys() | before.keys() if after.get(k) != before.get(k)}
    links = [k for k in extra if k in after and after[k][0] == "link"]
    assert len(links) == 1
    assert extra <= {links[0], *map(str, Path(links[0]).parents[:-1])}


@pytest.mark.parametrize("stale", [False, True], ids=["new", "replace"])
async def test_verify_failing_at_any_file_rolls_back(
    tmp_path: Path, snapshot: Snap, stale: bool
) -> None:
    world = small_world(tmp_path / "w", stale=stale)
    before = snapshot(world.root)
    for k in range(len(world.names)):

        def verify(index: int, path: str, k: int = k) -> None:
            if index == k:
                raise IntegrityError(f"file {index} is wrong")

        with pytest.raises(IntegrityError, match=f"file {k} is wrong"):
            await world.download(replace=stale, verify=verify)
        assert snapshot(world.root) == before, k
