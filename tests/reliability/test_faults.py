"""Fault injection: any filesystem call of a download may fail; the disk must
end up exactly as it was (names, kinds, link targets, contents, and the
modification times of files and folders), nothing may stay open, and the
caller must see one plain, meaningful exception.

The calls are numbered as alink makes them (source checks, folder creation,
the link, copy or hard-link step with every call it makes, replacing,
rollback), and each test fails every position in turn until a run completes
without reaching the fault, so no position is skipped. Every test runs over
the transfers (see ``_helpers.KINDS``).
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
from alink.transfer import _copy_ops
from alink.transfer.copy import CopyDownloadConnection
from alink.transfer.link import LinkDownloadConnection

from ._helpers import (
    Call,
    Fault,
    Faults,
    World,
    big_world,
    check_entry,
    injected,
    kinds,
    leftovers,
    make_tree,
    open_below,
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
CODES = list(ERRORS.values())

#: Every transfer, and copies with the named temporary files of filesystems
#: without O_TMPFILE.
ALL_KINDS = ["link", "copy", "hardlink", "copy-named", "copy-staged"]


def check_error(exc: BaseException, fault: Fault, world: World) -> None:
    """The caller's exception is the injected one, or the documented
    translation of it, and never an exception group."""
    assert not isinstance(exc, BaseExceptionGroup), exc
    call = fault.fired
    assert call is not None
    injected_error = fault.raised[0][1]
    if exc is injected_error:
        return
    if "check" in call.phase:
        # An unreadable remote file is reported as not accessible.
        assert isinstance(exc, FileNotAccessibleError), (call, exc)
        return
    if (
        isinstance(exc, FileNotAccessibleError)
        and isinstance(injected_error, PermissionError)
        and injected_error.filename == call.path
        and call.path.startswith(f"{world.source}/")
    ):
        # A remote file a copy may not read (to copy it, or to compare it
        # with an existing local file) is reported as that remote file.
        assert exc.__cause__ is injected_error
        assert str(exc.remote_path) == call.path
        return
    if "matches" in call.phase:
        # Checking whether an existing entry is already ours failed: alink
        # cannot prove it is, so it refuses to touch it.
        assert isinstance(exc, FileExistsError), (call, exc)
        return
    pytest.fail(f"unexpected {exc!r} for a fault in {call}")


def target_of(path: str) -> Path:
    """The final name a temporary ``.<name>.alink-...`` entry stands for."""
    folder, _, name = path.rpartition("/")
    if ".alink-" in name:
        name = name[1:].rpartition(".alink-")[0]
    return Path(folder, name)


def check_harmless(world: World, fault: Fault) -> None:
    """A download succeeded although a call failed: only where the failure
    cannot matter."""
    call, error = fault.raised[0]
    copied: list[Path] = []
    if "commit" in call.phase:
        # Deleting the backup of a replaced file after success is best
        # effort: the download is complete, the old content stays in a
        # hidden backup next to it.
        assert call.name == "unlink", call
        assert call.path.endswith(".bak"), call
        backup = Path(call.path)
        assert backup.read_text() == "stale copy, but the user's"
        backup.unlink()
    elif "matches" in call.phase:
        # A failed "is this already ours?" look, where the answer was "no"
        # anyway (a stale file about to be replaced): the result is right.
        pass
    elif "stage" in call.phase:
        # Choosing new folders to stage, and sweeping what killed copies left
        # next to them, is best effort: a failed look stages nothing there.
        assert world.kind != "link", call
    elif (
        call.name == "scandir"
        and "check" in call.phase
        and isinstance(error, PermissionError)
    ):
        # A remote folder that may be entered but not listed (mode 0711):
        # its files are looked at by name instead, and all were there.
        pass
    elif call.name == "scandir" and "apply" in call.phase:
        # Looking for temporary files of killed copies (in a folder that
        # gets a named temporary file, or holds a file of the download
        # already) is best effort.
        assert world.kind != "link", call
    elif (
        world.kind == "hardlink"
        and call.name == "link"
        and isinstance(error, OSError)
        and error.errno in _copy_ops._NO_HARDLINK
    ):
        # The kernel refused a hard link: that file is copied instead
        # (unless it already was there, as a hard link).
        local = target_of(call.path)
        remote = world.source / local.relative_to(world.target)
        if not local.samefile(remote):
            copied.append(local)
    else:
        pytest.fail(f"{call} was lost")
    world.assert_complete(copied)


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
            check_error(exc, fault, world)
        else:
            if fault.fired is None:
                world.assert_complete()
                return k
            check_harmless(world, fault)
            shutil.rmtree(world.root)
            world = build()
        assert snapshot(world.root) == before, f"k={k}: fault in {fault.fired}"
        assert open_below(world.root) == [], f"k={k}: fault in {fault.fired}"
    raise AssertionError("unreachable")


#: What the default suite sweeps with a stale file to replace: the replacing
#: step wraps the same copy step for every copying kind.
REPLACE_BY_DEFAULT = ("link", "copy", "copy-named")


def _sweeps() -> list[Any]:
    """(kind, error, compact world, stale file) for the sweep.

    The default suite fails the three errors in turn over the positions
    (links in the full world; the other kinds, which make several times
    more calls per file, in a compact one). ``-m slow`` fails each error at
    every position of the full world, for every kind.
    """
    params = []
    for kind in ALL_KINDS:
        for stale in (False, True):
            for name in [*ERRORS, "mixed"]:
                slow = name != "mixed" or (stale and kind not in REPLACE_BY_DEFAULT)
                compact = kind != "link" and not slow
                params.append(
                    pytest.param(
                        kind,
                        name,
                        compact,
                        stale,
                        marks=[pytest.mark.slow] if slow else [],
                        id=f"{kind}-{name}"
                        + ("-compact" if compact else "")
                        + ("-replace" if stale else "-new"),
                    )
                )
    return params


def _fault_maker(code: str) -> Callable[[int], Fault]:
    if code == "mixed":
        return lambda k: Fault(at=k, error=os_error(CODES[k % len(CODES)]))
    return lambda k: Fault(at=k, error=os_error(ERRORS[code]))


#: Fewest counted calls per file of a clean run, by kind.
CALLS_PER_FILE = {
    "link": 1,
    "hardlink": 3,
    "copy": 7,
    "copy-named": 8,
    "copy-staged": 6,
}


@pytest.mark.parametrize(
    ("kind", "code", "compact", "stale"), _sweeps(), indirect=["kind"]
)
async def test_every_call_failing_leaves_the_disk_unchanged(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    code: str,
    compact: bool,
    stale: bool,
) -> None:
    def build(root: Path = tmp_path / "w") -> World:
        return small_world(root, stale=stale, kind=kind, compact=compact)

    with injected(monkeypatch) as faults:
        positions = await fail_every_call(
            build, faults, snapshot, _fault_maker(code), replace=stale
        )
        # Every call of a clean run was failed once.
        faults.arm()
        world = build(tmp_path / "again")
        await world.download(replace=stale)
    assert positions == len(faults.calls)
    assert positions > len(world.names) * CALLS_PER_FILE[kind]
    names = {call.name for call in faults.calls}
    if kind == "copy":
        assert {"open(O_TMPFILE)", "copy_file_range", "link", "utime"} <= names
    if kind == "copy-named":
        assert {"open", "copy_file_range", "link", "unlink", "scandir"} <= names
    if kind == "copy-staged":
        # New folders staged; the existing one gets O_TMPFILE files.
        assert {"open", "open(O_TMPFILE)", "copy_file_range", "rename"} <= names


# --- large dataset: a few positions -----------------------------------------


@pytest.fixture(scope="module")
def source_5k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("src5k")
    return root, make_tree(root, 5, 1000)


def _large_sweeps() -> list[Any]:
    """(kind, positions): links in the default suite (the rollback of many
    entries is the engine's, shared by every kind); every kind, at more
    positions, under ``-m slow``."""
    return [
        pytest.param("link", 5, id="link-5"),
        *(
            pytest.param(kind, 40, marks=pytest.mark.slow, id=f"{kind}-40")
            for kind in ALL_KINDS
        ),
    ]


@pytest.mark.parametrize(("kind", "positions"), _large_sweeps(), indirect=["kind"])
async def test_faults_in_a_5k_dataset(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    source_5k: tuple[Path, list[str]],
    kind: str,
    positions: int,
) -> None:
    """A few positions spread over a large run (first, last, in between)."""
    source, names = source_5k
    world = big_world(tmp_path / "w", source, names, kind=kind)
    before = snapshot(world.root)
    with injected(monkeypatch) as faults:
        faults.arm()
        await world.download()
        total = len(faults.calls)
        shutil.rmtree(world.root)
        world = big_world(tmp_path / "w", source, names, kind=kind)
        for step in range(positions):
            # Each failed run leaves the world as it was: the next one
            # starts from the same state.
            k = (total - 1) * step // (positions - 1)
            fault = Fault(at=k, error=os_error(errno.EIO))
            faults.arm(fault)
            with pytest.raises(Exception) as info:  # noqa: PT011
                await world.download()
            check_error(info.value, fault, world)
            assert snapshot(world.root) == before, fault.fired
            assert open_below(world.root) == []
        faults.arm()
        await world.download()
    world.assert_complete()


# --- the rollback itself fails ----------------------------------------------


def check_partial_rollback(
    before: dict[str, Any], after: dict[str, Any], failed: Call, root: Path
) -> None:
    """Only the entry whose undo failed (and the folders holding it) may
    differ, and nothing that existed before lost its kind or content."""
    rel = str(target_of(failed.entry).relative_to(root))
    allowed = {rel, *map(str, Path(rel).parents[:-1])}
    if failed.path.startswith(f"{root}/"):
        # E.g. the named temporary file of a copy that could not be removed.
        allowed.add(str(Path(failed.path).relative_to(root)))
    left_alone = {rel}
    if failed.name == "stat" and "rollback" in failed.phase:
        # The rollback could not check that a folder is still the one it
        # used: it leaves everything below it alone (and says so).
        allowed |= {name for name in after if name.startswith(f"{rel}/")}
        left_alone |= {name for name in before if name.startswith(f"{rel}/")}
        if failed.path.startswith(f"{root}/"):
            # A new folder's hidden stand-in: our files stay out of sight.
            raw = str(Path(failed.path).relative_to(root))
            allowed |= {name for name in after if name.startswith(f"{raw}/")}
    if failed.name == "rename" and "rollback" in failed.phase:
        # A new folder, renamed into place complete, could not be taken back
        # to its hidden name: it stays, with all of its (complete) files.
        assert rel not in before, failed
        allowed |= {name for name in after if name.startswith(f"{rel}/")}
    replaced = set()
    for name in left_alone:
        if name in before and before[name][0] == "file" and after[name] != before[name]:
            # A replaced file was not put back (or checking that the entry
            # is still ours failed): our entry is in its place, and the
            # user's file is safe in the hidden backup next to it.
            folder, _, base = name.rpartition("/")
            backup = next(
                other
                for other in after
                if other.startswith(f"{folder}/.{base}.alink-")
                and other.endswith(".bak")
            )
            assert after[backup][:2] == before[name][:2]
            allowed.add(backup)
            replaced.add(name)
    for name, entry in before.items():
        if name in replaced:
            continue
        assert name in after, f"{name} vanished"
        assert after[name][:2] == entry[:2], name
    changed = {n for n in after.keys() | before.keys() if after.get(n) != before.get(n)}
    assert changed <= allowed, (failed, changed - allowed)


def first_faults(world: World, calls: list[Call]) -> list[int]:
    """Positions for a first fault: calls on the local side whose failure
    fails the download. Not remote checks (a failed check creates nothing,
    so there is nothing to roll back), nor the failures that are harmless
    (see check_harmless)."""
    target = f"{world.target}/"
    return [
        call.index
        for call in calls
        if call.path.startswith(target)
        and {"dirs", "scan", "apply", "publish"} & set(call.phase)
        and "matches" not in call.phase
        and not (call.name == "scandir" and "apply" in call.phase)
    ]


async def fail_rollback_everywhere(
    build: Callable[[], World],
    faults: Faults,
    snapshot: Snap,
    samples: int | None,
    *,
    replace: bool = False,
) -> int:
    """For ``samples`` positions of a first fault spread over the run (all
    with ``None``), fail each later call in turn (the rollback's, and the
    cleanup inside the failing step). Returns how many were failed."""
    world = build()
    before = snapshot(world.root)
    faults.arm()
    await world.download(replace=replace)
    positions = first_faults(world, faults.calls)
    if samples is not None:
        last = len(positions) - 1
        positions = [positions[last * s // (samples - 1)] for s in range(samples)]
    shutil.rmtree(world.root)
    world = build()
    failed_undos = 0
    for k in positions:
        for j in itertools.count():
            primary = Fault(at=k, error=os_error(errno.EIO))
            secondary = Fault(at=k + 1 + j, error=os_error(errno.EIO))
            faults.arm(primary, secondary)
            with pytest.raises(Exception) as info:  # noqa: PT011
                await world.download(replace=replace)
            assert primary.fired is not None
            check_error(info.value, primary, world)
            assert open_below(world.root) == []
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
                named = {str(target_of(secondary.fired.entry)), secondary.fired.path}
                assert any(name in notes for name in named), secondary.fired
            shutil.rmtree(world.root)
            world = build()
    return failed_undos


def _rollback_sweeps() -> list[Any]:
    """(kind, stale file, samples): 3 sampled first faults in the compact
    world by default (not the replace variant of hard links, see
    REPLACE_BY_DEFAULT); every first fault under ``-m slow``, in the full
    world for links and in the compact one for the other kinds (whose full
    world has some 300 first faults, each followed by a few hundred calls
    to fail)."""
    params = []
    for kind in ALL_KINDS:
        for stale in (False, True):
            label = f"{kind}-{'replace' if stale else 'new'}"
            if not stale or kind in REPLACE_BY_DEFAULT:
                params.append(pytest.param(kind, stale, 3, id=f"{label}-some"))
            params.append(
                pytest.param(
                    kind, stale, None, marks=pytest.mark.slow, id=f"{label}-all"
                )
            )
    return params


@pytest.mark.parametrize(
    ("kind", "stale", "samples"), _rollback_sweeps(), indirect=["kind"]
)
async def test_rollback_failures_keep_the_error_and_the_other_undo_steps(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    stale: bool,
    samples: int | None,
) -> None:
    """A first fault starts the rollback; then each later call fails in
    turn. The caller still gets the first error, with a note naming what
    could not be undone; every other step is still undone, and no user
    entry is lost. (The default suite samples 3 first faults, in the
    compact world; see _rollback_sweeps.)"""
    compact = samples is not None or kind != "link"
    with injected(monkeypatch) as faults:
        failed = await fail_rollback_everywhere(
            lambda: small_world(
                tmp_path / "w", stale=stale, kind=kind, compact=compact
            ),
            faults,
            snapshot,
            samples,
            replace=stale,
        )
    assert failed > (10 if samples else 300)


# --- failures that are not OSErrors ------------------------------------------


class _BuggyUndo:
    """An operation whose undo raises a non-OSError once (a bug, say)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls = 0

    def apply(self, source: str, target: str) -> None:
        if target.endswith("/deep/f7"):  # c/deep/f7 (or its staged name)
            raise OSError(errno.EIO, "the last file fails", target)
        self._inner.apply(source, target)

    def matches(self, source: str, target: str) -> bool:
        return bool(self._inner.matches(source, target))

    def made(self, source: str, target: str) -> bool:
        return bool(self._inner.made(source, target))

    def undo(self, source: str, target: str) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("bug in undo")
        self._inner.undo(source, target)


async def test_an_undo_step_raising_a_non_oserror_does_not_stop_the_others(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    world = small_world(tmp_path / "w", kind=kind)
    before = snapshot(world.root)
    buggy: list[_BuggyUndo] = []
    if kind == "link":
        buggy.append(_BuggyUndo(LinkDownloadConnection._operation))
        monkeypatch.setattr(LinkDownloadConnection, "_operation", buggy[0])
    else:
        prepare = CopyDownloadConnection._prepare_operation

        async def buggy_prepare(
            self: CopyDownloadConnection, targets: Any, staging: Any
        ) -> Any:
            buggy.append(_BuggyUndo(await prepare(self, targets, staging)))
            return buggy[-1]

        monkeypatch.setattr(CopyDownloadConnection, "_prepare_operation", buggy_prepare)
    with pytest.raises(OSError, match="the last file fails") as info:
        await world.download()
    assert "bug in undo" in "\n".join(info.value.__notes__)
    assert buggy[0].calls > 30
    after = snapshot(world.root)
    # Exactly one entry (the one whose undo failed) is left, and its folder.
    extra = {k for k in after.keys() | before.keys() if after.get(k) != before.get(k)}
    made = [k for k in extra if k in after and after[k][0] != "dir"]
    assert len(made) == 1
    assert extra <= {made[0], *map(str, Path(made[0]).parents[:-1])}
    assert leftovers(world.root) == []


@pytest.mark.parametrize("stale", [False, True], ids=["new", "replace"])
async def test_verify_failing_at_any_file_rolls_back(
    tmp_path: Path, snapshot: Snap, kind: str, stale: bool
) -> None:
    world = small_world(tmp_path / "w", stale=stale, kind=kind, compact=kind != "link")
    before = snapshot(world.root)
    for k in range(len(world.names)):

        def verify(index: int, path: str, k: int = k) -> None:
            if index == k:
                raise IntegrityError(f"file {index} is wrong")

        with pytest.raises(IntegrityError, match=f"file {k} is wrong"):
            await world.download(replace=stale, verify=verify)
        assert snapshot(world.root) == before, k


# --- what the sweeps found: one named test each -------------------------------


def ordinal(calls: list[Call], call: Call) -> int:
    """How many calls of ``call``'s name come before it: the ``at`` of a
    fault (counting only that name) that hits it."""
    return sum(c.name == call.name for c in calls[: call.index])


@pytest.mark.parametrize("kind", kinds("copy", "copy-named"), indirect=True)
async def test_closing_the_source_failing_after_a_finished_copy(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The copy of ``b/f1`` is complete when closing its source fails: the
    step fails, so the copy must go too (the rollback only undoes steps that
    succeeded)."""
    world = small_world(tmp_path / "w", kind=kind, compact=True)
    before = snapshot(world.root)
    with injected(monkeypatch) as faults:
        fault = Fault(
            at=0,
            error=os_error(errno.EIO),
            only=frozenset({"close"}),
            path="/remote/ds/b/f1",
        )
        faults.arm(fault)
        exc = await outcome(world.download())
    assert exc is fault.raised[0][1]
    assert snapshot(world.root) == before


@pytest.mark.parametrize("kind", kinds("copy", "copy-named"), indirect=True)
async def test_reading_an_existing_file_to_compare_failing(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``a/f3`` exists; reading it to compare with the remote file fails. The
    copies made before it in the same batch are undone too, and the caller
    gets the read error."""
    world = small_world(tmp_path / "w", kind=kind, compact=True)
    before = snapshot(world.root)
    with injected(monkeypatch) as faults:
        fault = Fault(
            at=0,
            error=os_error(errno.EIO),
            only=frozenset({"readv"}),
            path="/target/a/f3",
        )
        faults.arm(fault)
        exc = await outcome(world.download())
    assert exc is fault.raised[0][1]
    assert snapshot(world.root) == before


@pytest.mark.parametrize(
    ("kind", "first", "then", "left"),
    [
        # linkat fails; closing the unnamed file fails too: nothing is left.
        ("copy", ("link", "/target/b/f1"), "close", None),
        # Closing the named copy fails; removing it fails too: it stays.
        ("copy", ("close", "/target/b/<unnamed>"), "unlink", "b/f1"),
        # Naming the copy fails; removing the temporary file fails too.
        ("copy-named", ("link", "/target/b/f1"), "unlink", "b/.f1.alink-"),
    ],
    indirect=["kind"],
)
async def test_a_failing_cleanup_inside_a_copy_step_keeps_the_first_error(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    first: tuple[str, str],
    then: str,
    left: str | None,
) -> None:
    """A step of a copy fails, and so does the cleanup of that step: the
    caller gets the first error; what could not be removed is named in a
    note on it."""
    world = small_world(tmp_path / "w", kind=kind, compact=True)
    before = snapshot(world.root)
    with injected(monkeypatch) as faults:
        faults.arm()
        await world.download()
        shutil.rmtree(world.root)
        world = small_world(tmp_path / "w", kind=kind, compact=True)
        target = f"{world.target}/b/f1"
        calls = faults.calls
        # The first call first[0] on first[1] once the copy of b/f1 started,
        # and the first call ``then`` after it (the run takes the same
        # course up to the primary fault).
        start = next(c.index for c in calls if c.name == "apply" and c.path == target)
        hit = next(
            c for c in calls[start:] if c.name == first[0] and c.path.endswith(first[1])
        )
        primary = Fault(
            at=ordinal(calls, hit),
            error=os_error(errno.ENOSPC),
            only=frozenset({first[0]}),
        )
        secondary = Fault(
            at=sum(c.name == then for c in calls[: hit.index + 1]),
            error=os_error(errno.EIO),
            only=frozenset({then}),
        )
        faults.arm(primary, secondary)
        exc = await outcome(world.download())
    assert exc is primary.raised[0][1]
    assert secondary.fired is not None
    after = snapshot(world.root)
    changed = {n for n in after.keys() | before.keys() if after.get(n) != before.get(n)}
    if left is None:
        assert after == before
    else:
        made = [n for n in changed if after.get(n, ("dir",))[0] != "dir"]
        assert len(made) == 1, changed
        assert made[0].startswith(f"target/{left}"), made
        assert changed <= {made[0], "target/b", "target"}
        notes = "\n".join(exc.__notes__)
        assert f"{world.root}/{made[0]}" in notes
    assert target not in faults.fds.values()
    assert open_below(world.root) == []


@pytest.mark.parametrize("kind", kinds("copy", "copy-named"), indirect=True)
async def test_a_replaced_file_that_cannot_be_read_back_keeps_its_backup(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``a/f5`` was replaced; a later file fails; the rollback cannot read
    ``a/f5`` to check it is still our copy. It leaves it, keeps the user's
    old file in its backup, and the note names both."""
    world = small_world(tmp_path / "w", kind=kind, compact=True, stale=True)
    before = snapshot(world.root)
    with injected(monkeypatch) as faults:
        faults.arm(
            Fault(
                at=0,
                error=os_error(errno.EIO),
                only=frozenset({"apply"}),
                path="/target/b/f1",
            ),
            Fault(
                at=0,
                error=os_error(errno.EIO),
                only=frozenset({"readv"}),
                phase="rollback",
                path="/target/a/f5",
            ),
        )
        exc = await outcome(world.download(replace=True))
    assert isinstance(exc, OSError)
    assert "injected EIO in apply" in str(exc)
    after = snapshot(world.root)
    backup = next(n for n in after if n.startswith("target/a/.f5.alink-"))
    assert after[backup][:2] == before["target/a/f5"][:2]
    notes = "\n".join(exc.__notes__)
    assert f"{world.target}/a/f5" in notes
    assert f"{world.root}/{backup}" in notes
    check_entry(kind, f"{world.source}/a/f5", world.target / "a/f5")
