"""Races with other actors on the same disks during a download.

* Something appears at a local path between validation and creation.
* A remote file disappears between the check and the link.
* A local folder is replaced by a symlink to somewhere else mid-run.
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

from ._helpers import Fault, World, age, injected, os_error, outcome, small_world

pytestmark = pytest.mark.anyio

Snap = Callable[[Path], dict[str, Any]]


async def test_a_foreign_entry_appearing_at_any_creation_is_left_alone(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The EEXIST race, at every creation: something appears at the path
    alink is about to create (a file where a link goes, a file where a folder
    goes). The caller gets ``FileExistsError`` naming it, the intruder's file
    is untouched and everything of ours is rolled back."""
    world = small_world(tmp_path / "w")
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
            fault = Fault(at=k, before=intrude, only=frozenset({"mkdir", "apply"}))
            faults.arm(fault)
            foreign.clear()
            exc = await outcome(world.download())
            if exc is None:
                if fault.fired is None:
                    break
                assert not foreign, f"k={k}: {fault.fired}"
                world.assert_complete()
                shutil.rmtree(world.root)
                world = small_world(tmp_path / "w")
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
            shutil.rmtree(world.root)
            world = small_world(tmp_path / "w")
    world.assert_complete()
    assert k == 43  # 40 links and 3 folders


# --- the remote changes under us --------------------------------------------


async def test_a_remote_file_vanishing_after_the_check_gives_a_dangling_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documented: remote files are checked once, before anything is created.
    A file deleted on the remote after that check is still linked (a symlink
    can dangle at any later moment anyway); ``verify`` catches it."""
    world = small_world(tmp_path / "w")
    victim = world.names.index("b/f4")

    def vanish(name: str, path: str) -> None:
        (world.source / "b/f4").unlink()

    with injected(monkeypatch) as faults:
        faults.arm(Fault(at=victim, before=vanish, only=frozenset({"apply"})))
        await world.download()
    link = world.local[victim]
    assert os.readlink(link) == world.remote[victim].posix
    assert not link.exists()  # dangling


async def test_verify_catches_a_remote_file_vanishing_and_rolls_back(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = small_world(tmp_path / "w")
    before = snapshot(world.root)
    victim = world.names.index("b/f4")

    def vanish(name: str, path: str) -> None:
        (world.source / "b/f4").unlink()
        os.utime(world.source / "b", ns=(10**18, 10**18))

    with injected(monkeypatch) as faults:
        faults.arm(Fault(at=victim, before=vanish, only=frozenset({"apply"})))
        with pytest.raises(FileNotFoundError):
            await world.download(verify=lambda i, path: os.stat(path))
    del before["remote/ds/b/f4"]
    assert snapshot(world.root) == before


# --- a local folder is swapped for a symlink mid-run ------------------------


def _swap_world(root: Path) -> tuple[World, Path]:
    """``target/d0`` (the user's folder) will be swapped mid-run for a link to
    ``elsewhere``, which already holds the same link alink makes for ``d0/f0``
    (another download of the same dataset) and a user file."""
    names = [f"d0/f{i}" for i in range(10)] + [f"d1/f{i}" for i in range(10)]
    world = World(root, names)
    for name in names:
        (world.source / name).parent.mkdir(parents=True, exist_ok=True)
        (world.source / name).write_text(name)
    (world.target / "d0").mkdir(parents=True)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "f0").symlink_to(world.source / "d0/f0")
    (elsewhere / "user.txt").write_text("not alink's")
    age(root)
    return world, elsewhere


def _swap(world: World, elsewhere: Path) -> Callable[[str, str], None]:
    def swap(name: str, path: str) -> None:
        os.rename(world.target / "d0", world.target / "d0.moved")
        os.symlink(elsewhere, world.target / "d0")

    return swap


async def test_rollback_does_not_delete_through_a_swapped_folder(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``d0`` is done, then swapped for a symlink to ``elsewhere``, then the
    download fails. Rolling back ``d0/f0`` through the swapped path would
    delete ``elsewhere/f0``, which is identical to our link but not ours:
    the rollback must leave everything below a swapped folder alone, and say
    so."""
    world, elsewhere = _swap_world(tmp_path / "w")
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
    # Our own links were moved away with the folder; they are reported, not
    # hunted down.
    assert os.readlink(world.target / "d0.moved/f9") == f"{world.source}/d0/f9"
    # d1 (unaffected) was rolled back.
    assert not (world.target / "d1").exists()


async def test_links_made_after_a_swap_land_in_the_swapped_folder(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Documented limitation: alink resolves local paths by name, so a link
    made after a folder was swapped for a symlink lands where the symlink
    points. The rollback does not delete below the swapped folder (it cannot
    tell its links from identical ones there); the caller is told."""
    world, elsewhere = _swap_world(tmp_path / "w")
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
    # ... and what was added are links alink made, which it reports.
    added = sorted(set(after) - set(before))
    assert added == [f"f{i}" for i in range(3, 10)]
    assert f"{world.target / 'd0'}" in "\n".join(info.value.__notes__)


async def test_a_swapped_folder_that_was_created_by_us_is_not_removed(
    tmp_path: Path, snapshot: Snap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folders alink created are removed on rollback only while they are
    still the folders it created: here ``c`` (ours) is swapped for a link to
    ``elsewhere``, whose empty ``deep`` folder must survive the rollback of
    ``c/deep``."""
    names = [f"c/deep/f{i}" for i in range(10)]
    world = World(tmp_path / "w", names)
    for name in names:
        (world.source / name).parent.mkdir(parents=True, exist_ok=True)
        (world.source / name).write_text(name)
    world.target.mkdir()
    elsewhere = world.root / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    age(world.root)
    before = snapshot(elsewhere)

    def swap(name: str, path: str) -> None:
        moved = world.target / "c.moved"
        os.rename(world.target / "c", moved)
        os.symlink(elsewhere, world.target / "c")

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
    assert f"{world.target / 'c'}" in "\n".join(info.value.__notes__)
