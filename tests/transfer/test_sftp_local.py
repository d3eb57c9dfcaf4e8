"""The local side of SFTP downloads, without a server: temporary files,
what counts as already downloaded, and renaming into place."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from alink.transfer import _copy_ops
from alink.transfer._sftp_local import (
    LocalFindings,
    PlaceOperation,
    RemoteAttrs,
    TempFiles,
    inspect_targets,
    process_umask,
    remove_temps,
)


def test_temporary_files_are_new_hidden_and_recognisable(tmp_path: Path) -> None:
    temps = TempFiles()
    target = str(tmp_path / "data.h5")
    temps.open(0, target)
    temps.write(0, b"world", 5)
    temps.write(0, b"hello", 0)
    path = temps.finish(0, (1_000_000, 1_500_000_000), 0o640)
    assert path == temps.paths[0]
    assert Path(path).parent == tmp_path
    assert _copy_ops.TEMP_NAME.match(Path(path).name)
    st = os.stat(path)  # before reading it (which may update its atime)
    assert (int(st.st_atime), int(st.st_mtime)) == (1_000_000, 1_500_000_000)
    assert Path(path).read_bytes() == b"helloworld"
    assert st.st_mode & 0o777 == 0o640
    assert temps.ids[path] == (st.st_dev, st.st_ino)
    assert not (tmp_path / "data.h5").exists()


def test_a_write_after_its_file_was_closed_is_refused(tmp_path: Path) -> None:
    temps = TempFiles()
    temps.open(3, str(tmp_path / "x"))
    temps.close(3)
    temps.open(4, str(tmp_path / "y"))  # may get the same descriptor number
    with pytest.raises(OSError, match="closed") as info:
        temps.write(3, b"late", 0)
    assert info.value.errno == errno.EBADF
    temps.close_all()
    assert Path(temps.paths[4]).read_bytes() == b""
    assert remove_temps(temps.paths.values()) == []
    assert list(tmp_path.iterdir()) == []


def test_whole_small_files(tmp_path: Path) -> None:
    temps = TempFiles()
    path = temps.write_whole(0, str(tmp_path / "s"), b"abc", (5, 6), 0o600)
    assert Path(path).read_bytes() == b"abc"
    assert int(os.stat(path).st_mtime) == 6


def test_what_exists_locally_is_sorted(tmp_path: Path) -> None:
    attrs = RemoteAttrs.sized(5)
    attrs.sizes[:] = [3, 3, 3, 3, 3]
    attrs.mtimes[:] = [1_600_000_000] * 5
    for name, data, mtime in (("same", b"abc", 1_600_000_000), ("edited", b"abd", 9)):
        (tmp_path / name).write_bytes(data)
        os.utime(tmp_path / name, (mtime, mtime))
    (tmp_path / "folder").mkdir()
    (tmp_path / "asked").write_bytes(b"old")
    targets = [str(tmp_path / n) for n in ("same", "edited", "folder", "asked", "new")]
    found = LocalFindings()
    inspect_targets(targets, 0, 5, attrs, [3], found)
    assert (found.done, found.conflicts, found.folders, found.replacing) == (
        [0],
        [1],
        [2],
        [3],
    )
    # Asked to replace everything: what is up to date is still done (as with
    # the local transfers, replacing it would make the same file).
    everything = LocalFindings()
    inspect_targets(targets, 0, 5, attrs, True, everything)
    assert everything.done == [0]
    assert everything.replacing == [1, 3]
    assert everything.folders == [2]
    assert everything.conflicts == []


def test_placing_never_replaces_and_undo_removes_only_ours(tmp_path: Path) -> None:
    temps = TempFiles()
    temps.open(0, str(tmp_path / "a"))
    temp = temps.finish(0, (1, 1), 0o644)
    operation = PlaceOperation(temps.ids)
    (tmp_path / "taken").write_bytes(b"someone's")
    with pytest.raises(FileExistsError):
        operation.apply(temp, str(tmp_path / "taken"))
    assert (tmp_path / "taken").read_bytes() == b"someone's"
    operation.apply(temp, str(tmp_path / "a"))
    assert not os.path.exists(temp)
    assert operation.matches(temp, str(tmp_path / "a"))
    assert not operation.matches(temp, str(tmp_path / "taken"))
    operation.undo(temp, str(tmp_path / "taken"))  # not ours: kept
    operation.undo(temp, str(tmp_path / "a"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_umask_is_read_without_changing_it() -> None:
    mask = os.umask(0o027)
    try:
        assert process_umask() == 0o027
    finally:
        os.umask(mask)
