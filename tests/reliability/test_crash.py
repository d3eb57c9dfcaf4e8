"""A process killed mid-download (``kill -9``: no rollback possible).

The contract: a re-run of the same download completes it; nothing is
duplicated, every link is correct and no temporary entries remain.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import pytest

from alink import Dataset, RemotePath
from alink.transfer.link import LinkFileTransfer

from ._helpers import make_tree

pytestmark = pytest.mark.anyio

#: The child: links ``folders x per_folder`` files, printing progress; with
#: ``pause``, it stops (blocking its event loop) after the first report, so
#: the kill surely lands mid-download.
CHILD = """
import sys, time, anyio
from alink import Dataset, RemotePath
from alink.transfer.link import LinkFileTransfer

source, target, folders, per_folder, pause, backend, replace = sys.argv[1:]
names = [f"d{d}/f{i}" for d in range(int(folders)) for i in range(int(per_folder))]

def progress(done, total):
    if done:
        print(done, flush=True)
        if pause == "1":
            time.sleep(3600)

async def main():
    dataset = Dataset(type="raw", source_folder=source)
    async with LinkFileTransfer().connect_for_download(dataset, names[0]) as con:
        await con.download_files(
            remote=[RemotePath(f"{source}/{n}") for n in names],
            local=[f"{target}/{n}" for n in names],
            progress=progress,
            replace=replace == "1",
        )
    print("done", flush=True)

anyio.run(main, backend=backend)
"""


def entries(root: Path) -> dict[str, str]:
    """Every non-folder entry below ``root`` -> its link text ('' if none)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            found[rel] = os.readlink(path) if os.path.islink(path) else ""
    return found


async def crash_then_rerun(
    source: Path,
    names: list[str],
    target: Path,
    folders: int,
    per_folder: int,
    *,
    pause: bool,
    backend: str,
) -> int:
    """Kill a child mid-download, re-run in-process; return how many links
    the child had made."""
    (target / "d0").mkdir(parents=True)
    (target / "d0" / "user.txt").write_text("the user's")
    await kill_child(source, target, folders, per_folder, pause, backend, False)
    made = len(entries(target)) - 1

    dataset = Dataset(type="raw", source_folder=str(source))
    async with LinkFileTransfer().connect_for_download(dataset, names[0]) as con:
        await con.download_files(
            remote=[RemotePath(f"{source}/{n}") for n in names],
            local=[target / n for n in names],
        )
    expected = {n: f"{source}/{n}" for n in names}
    expected["d0/user.txt"] = ""
    # Exactly the dataset's links and the user's file: nothing duplicated,
    # nothing half-made, no temporary names.
    assert entries(target) == expected
    assert (target / "d0" / "user.txt").read_text() == "the user's"
    return made


async def kill_child(
    source: Path,
    target: Path,
    folders: int,
    per_folder: int,
    pause: bool,
    backend: str,
    replace: bool,
) -> None:
    """Run the child until it reports progress, then ``kill -9`` it."""
    command = [
        sys.executable,
        "-c",
        CHILD,
        str(source),
        str(target),
        str(folders),
        str(per_folder),
        "1" if pause else "0",
        backend,
        "1" if replace else "0",
    ]
    async with await anyio.open_process(command) as process:
        assert process.stdout is not None
        first = await process.stdout.receive()
        process.send_signal(signal.SIGKILL)
        assert await process.wait() == -signal.SIGKILL
    assert int(first.split()[0]) > 0


async def test_kill_during_a_paused_download_then_rerun(
    tmp_path: Path, anyio_backend: str
) -> None:
    source = tmp_path / "src"
    names = make_tree(source, 4, 500)
    made = await crash_then_rerun(
        source, names, tmp_path / "out", 4, 500, pause=True, backend=anyio_backend
    )
    assert 0 < made < len(names)  # the kill did land mid-download


@pytest.mark.slow
async def test_kill_9_during_200k_links_then_rerun(
    tmp_path: Path, anyio_backend: str
) -> None:
    source = tmp_path / "src"
    names = make_tree(source, 20, 10_000)
    await crash_then_rerun(
        source,
        names,
        tmp_path / "out",
        20,
        10_000,
        pause=False,
        backend=anyio_backend,
    )


async def test_kill_while_replacing_leaves_no_half_state(
    tmp_path: Path, anyio_backend: str
) -> None:
    """With ``replace``, the replaced entries are kept as hidden backups until
    the download succeeds. After a ``kill -9``, every final name holds either
    the old file or the new link (never nothing, never half), and the only
    extra entries carry alink's ``.alink-`` mark: each ``.bak`` is the
    user's old file (documented: alink does not delete them on a re-run;
    they may hold the user's only copy of the old content)."""
    source = tmp_path / "src"
    names = make_tree(source, 2, 500)
    target = tmp_path / "out"
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(f"old {name}")
    await kill_child(source, target, 2, 500, True, anyio_backend, True)
    found = entries(target)
    linked = 0
    for name in names:
        if found.pop(name):
            linked += 1
        else:
            assert (target / name).read_text() == f"old {name}"
    assert 0 < linked < len(names)
    # Paused between batches: each replaced file has its backup.
    assert sum(extra.endswith(".bak") for extra in found) == linked
    for extra in found:
        assert ".alink-" in extra
        if extra.endswith(".bak"):
            original = extra.rpartition(".alink-")[0].replace("/.", "/", 1)
            assert (target / extra).read_text() == f"old {original}"

    dataset = Dataset(type="raw", source_folder=str(source))
    async with LinkFileTransfer().connect_for_download(dataset, names[0]) as con:
        await con.download_files(
            remote=[RemotePath(f"{source}/{n}") for n in names],
            local=[target / n for n in names],
            replace=True,
        )
    after = entries(target)
    for name in names:
        assert after.pop(name) == f"{source}/{name}"
    assert set(after) == set(found)  # the crashed run's backups, untouched
