"""Races with other actors on the same disks during a download.

* Something appears at a local path between validation and creation.
* A remote file disappears between the check and the link or copy.
* A local folder is replaced by a symlink to somewhere else mid-run.

Every test runs over the transfers (see ``_helpers.KINDS``).
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alink import FileNotAccessibleError

from ._helpers import (
    Fault,
    World,
    age,
    check_entry,
    injected,
    leftovers,
    make_done,
    open_below,
    os_error,
    outcome,
    small_world,
)

pytestmark = pytest.mark.anyio

Snap = Callable[[Path], dict[str, Any]]


#: The calls that create an entry under its final name.
CREATIONS = frozenset({"mkdir", "apply", "link"})


@pytest.mark.parametrize(
    ("kind", "compact"),
    [
        ("link", False),
        *((kind, True) for kind in ("copy", "hardlink", "copy-named")),
        *(
            pytest.param(kind, False, marks=pytest.mark.slow)
            for kind in ("copy", "hardlink", "copy-named")
        ),
    ],
    indirect=["kind"],
)
async def test_a_foreign_entry_appearing_at_any_creation_is_left_alone(
    tmp_path: Path,
    snapshot: Snap,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    compact: bool,
) -> None:
    """The EEXIST race, at every creation: something appears at the path
    alink is about to create (a file where a folder goes; where a file goes,
    just before its step starts, and for a copy or hard link also just
    before the ``link``/``linkat`` that gives it its name, after the bytes
    are written). The caller gets ``FileExistsError`` naming it, the
    intruder's file is untouched and everything of ours is rolled back,
    with no temporary file left and nothing held open. (The default suite
    uses the compact world for kinds other than links.)"""

    def build(root: Path = tmp_path / "w") -> World:
        return small_world(root, kind=kind, compact=compact)

    world = build()
    before = snapshot(world.root)
    foreign: list[str] = []

    def intrude(name: str, path: str) -> None:
        try:
            with open(path, "x") as file:  # never through an existing link
                file.write("someone else's")
        except FileExistsError:
            return  # already there before the run: no race to simulate
        foreign.append(path)

    with injected(monkeypatch) as faults:
        for k in itertools.count():
            fault = Fault(at=k, before=intrude, only=CREATIONS)
            faults.arm(fault)
            foreign.clear()
            exc = await outcome(world.download())
            if exc is None:
                if fault.fired is None:
                    break
                assert not foreign, f"k={k}: {fault.fired}"
                world.assert_complete()
                shutil.rmtree(world.root)
                world = build()
                continue
            assert fault.fired is not None
            assert type(exc) is FileExistsError, exc
            assert exc.filename == foreign[0]
            rel = str(Path(foreign[0]).relative_to(world.root))
            after = snapshot(world.root)
            # The intruder's file is there, untouched, and nothing else
            # changed, except that the folders holding it stay (a folder we
            # made is not empty again) and their times are the intruder's.
            assert after.pop(rel)[:2] == ("file", b"someone else's".hex())
            for parent in map(str, Path(rel).parents[:-1]):
                assert after[parent][0] == "dir"
                if parent in before:
                    after[parent] = before[parent]
                else:
                    del after[parent]
            assert after == before, f"k={k}: {fault.fired}"
            assert open_below(world.root) == []
            shutil.rmtree(world.root)
            world = build()
        # Every creation of a clean run was raced.
        faults.arm()
        clean = build(tmp_path / "clean")
        await clean.download()
    world.assert_complete()
    assert k == sum(call.name in CREATIONS for call in faults.calls)
    # 3 folders and each file (twice for the kinds that link a finished copy
    # into place; not for the one already there).
    files = len(world.names)
    assert k == 3 + {"link": files, "hardlink": 2 * files}.get(kind, 2 * files - 1)


# --- the remote changes under us --------------------------------------------


async def test_a_remote_file_vanishing_after_the_check(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Documented: remote files are checked once, before anything is created.
    A file deleted on the remote after that check is still linked (a symlink
    can dangle at any later moment anyway; ``verify`` catches it); a copy or
    hard link of it fails, and everything is rolled back."""
    world = small_world(tmp_path / "w", kind=kind)
    before = snapshot(world.root)
    victim = world.names.index("b/f4")

    def vanish(name: str, path: str) -> None:
        (world.source / "b/f4").unlink()
        os.utime(world.source / "b", ns=(10**18, 10**18))

    with injected(monkeypatch) as faults:
        faults.arm(Fault(at=victim, before=vanish, only=frozenset({"apply"})))
        exc = await outcome(world.download())
    del before["remote/ds/b/f4"]
    if kind == "link":
        assert exc is None
        link = world.local[victim]
        assert os.readlink(link) == world.remote[victim].posix
        assert not link.exists()  # dangling
    else:
        # Named as the remote file it is (the cause: the failed open).
        assert isinstance(exc, FileNotAccessibleError), exc
        assert "is gone" in str(exc)
        assert exc.remote_path == world.remote[victim]
        assert isinstance(exc.__cause__, FileNotFoundError)
        assert snapshot(world.root) == before
        assert open_below(world.root) == []


async def test_verify_catches_a_remote_file_vanishing_and_rolls_back(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    world = small_world(tmp_path / "w", kind=kind)
    before = snapshot(world.root)
    victim = world.names.index("b/f4")

    def vanish(name: str, path: str) -> None:
        (world.source / "b/f4").unlink()
        os.utime(world.source / "b", ns=(10**18, 10**18))

    with injected(monkeypatch) as faults:
        faults.arm(Fault(at=victim, before=vanish, only=frozenset({"apply"})))
        # A link dangles until verify looks; a copy fails as it opens it.
        with pytest.raises((FileNotFoundError, FileNotAccessibleError)):
            await world.download(verify=lambda i, path: os.stat(path))
    del before["remote/ds/b/f4"]
    assert snapshot(world.root) == before


# --- a local folder is swapped for a symlink mid-run ------------------------


def _swap_world(root: Path, kind: str) -> tuple[World, Path]:
    """``target/d0`` (the user's folder) will be swapped mid-run for a link to
    ``elsewhere``, which already holds the same entry alink makes for
    ``d0/f0`` (from another download of the same dataset: for a copy, with
    the same size and times) and a user file."""
    names = [f"d0/f{i}" for i in range(10)] + [f"d1/f{i}" for i in range(10)]
    world = World(root, names, kind=kind)
    for name in names:
        (world.source / name).parent.mkdir(parents=True, exist_ok=True)
        (world.source / name).write_text(name)
    (world.target / "d0").mkdir(parents=True)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    make_done(kind, world.source / "d0/f0", elsewhere / "f0")
    (elsewhere / "user.txt").write_text("not alink's")
    age(root)
    return world, elsewhere


def _swap(world: World, elsewhere: Path) -> Callable[[str, str], None]:
    def swap(name: str, path: str) -> None:
        os.rename(world.target / "d0", world.target / "d0.moved")
        os.symlink(elsewhere, world.target / "d0")

    return swap


async def test_rollback_does_not_delete_through_a_swapped_folder(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``d0`` is done, then swapped for a symlink to ``elsewhere``, then the
    download fails. Rolling back ``d0/f0`` through the swapped path would
    delete ``elsewhere/f0``, which is identical to our link but not ours:
    the rollback must leave everything below a swapped folder alone, and say
    so."""
    world, elsewhere = _swap_world(tmp_path / "w", kind)
    before = snapshot(elsewhere)
    with injected(monkeypatch) as faults:
        faults.arm(
            Fault(at=12, before=_swap(world, elsewhere), only=frozenset({"apply"})),
            Fault(at=15, error=os_error(errno.EIO), only=frozenset({"apply"})),
        )
        with pytest.raises(OSError, match="injected EIO") as info:
            await world.download()
    assert snapshot(elsewhere) == before
    notes = "\n".join(info.value.__notes__)
    assert f"{world.target / 'd0'}" in notes
    # Our own entries were moved away with the folder; they are reported,
    # not hunted down.
    check_entry(kind, f"{world.source}/d0/f9", world.target / "d0.moved/f9")
    # d1 (unaffected) was rolled back.
    assert not (world.target / "d1").exists()
    assert leftovers(world.root) == []


async def test_links_made_after_a_swap_land_in_the_swapped_folder(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Documented limitation: alink resolves local paths by name, so a link
    made after a folder was swapped for a symlink lands where the symlink
    points. The rollback does not delete below the swapped folder (it cannot
    tell its links from identical ones there); the caller is told. The same
    holds for copies and hard links."""
    world, elsewhere = _swap_world(tmp_path / "w", kind)
    before = snapshot(elsewhere)
    with injected(monkeypatch) as faults:
        faults.arm(
            Fault(at=3, before=_swap(world, elsewhere), only=frozenset({"apply"})),
            Fault(at=15, error=os_error(errno.EIO), only=frozenset({"apply"})),
        )
        with pytest.raises(OSError, match="injected EIO") as info:
            await world.download()
    after = snapshot(elsewhere)
    # Nothing that was there changed...
    assert {k: after[k] for k in before} == before
    # ... and what was added are entries alink made, which it reports.
    added = sorted(set(after) - set(before))
    assert added == [f"f{i}" for i in range(3, 10)]
    for name in added:
        check_entry(kind, f"{world.source}/d0/{name}", elsewhere / name)
    assert f"{world.target / 'd0'}" in "\n".join(info.value.__notes__)


async def test_a_swapped_folder_that_was_created_by_us_is_not_removed(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Folders alink created are removed on rollback only while they are
    still the folders it created: here ``c`` (ours) is swapped for a link to
    ``elsewhere``, whose empty ``deep`` folder must survive the rollback of
    ``c/deep``."""
    names = [f"c/deep/f{i}" for i in range(10)]
    world = World(tmp_path / "w", names, kind=kind)
    for name in names:
        (world.source / name).parent.mkdir(parents=True, exist_ok=True)
        (world.source / name).write_text(name)
    world.target.mkdir()
    elsewhere = world.root / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    age(world.root)
    before = snapshot(elsewhere)

    swapped: list[Path] = []

    def swap(name: str, path: str) -> None:
        # ``c``, or the hidden folder a staged ``c`` is built in.
        folder = Path(path).parent.parent
        os.rename(folder, world.target / "c.moved")
        os.symlink(elsewhere, folder)
        swapped.append(folder)

    with injected(monkeypatch) as faults:
        faults.arm(
            Fault(at=5, before=swap, only=frozenset({"apply"})),
            Fault(at=6, error=os_error(errno.EIO), only=frozenset({"apply"})),
        )
        with pytest.raises(OSError, match="injected EIO") as info:
            await world.download()
    after = snapshot(elsewhere)
    assert after["deep"][0] == "dir"  # not removed
    # The one link made after the swap went there (see the test above), and
    # is reported.
    assert set(after) - set(before) == {"deep/f5"}
    assert f"{swapped[0]}" in "\n".join(info.value.__notes__)
