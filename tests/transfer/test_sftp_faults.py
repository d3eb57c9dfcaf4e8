"""SFTP faults against a real OpenSSH server: the server dies mid-download,
files vanish or cannot be read, host keys are unknown or changed, logins are
refused. Each leaves the local disk as it was, says what went wrong in one
plain exception, and a re-run completes once the cause is gone.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from alink import (
    Dataset,
    FileNotAccessibleError,
    FileTransferError,
    RemotePath,
)
from alink.testing import SFTPServer
from alink.transfer import _sftp_bridge, _sftp_download
from alink.transfer.sftp import SFTPDownloadConnection, SFTPFileTransfer

pytestmark = pytest.mark.anyio

Snapshot = Callable[[Path], dict[str, tuple[str, str, int]]]

#: A user the tests may log in as to see permission denied: as root, a
#: local user without privileges (root reads everything); else oneself.
OTHER_USER = "nobody" if os.geteuid() == 0 else getpass.getuser()


def remote(source: Path, *names: str) -> list[RemotePath]:
    return [RemotePath(str(source)) / n for n in names]


def _files(folder: Path, count: int, size: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"d{i:03d}.dat" for i in range(count)]
    for name in names:
        (folder / name).write_bytes(os.urandom(size))
    return names


async def test_server_killed_mid_download_then_rerun_completes(
    sshd_binary: str,
    tmp_path: Path,
    snapshot: Snapshot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_sftp_bridge, "PUMP_SECONDS", 0.002)
    with SFTPServer(sshd=sshd_binary) as server:
        folder = server.root / "ds"
        names = _files(folder, 8, 16 << 20)
        dataset = Dataset(type="raw", source_folder=str(folder))
        out = tmp_path / "out"
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
        before = snapshot(out)
        local = [out / "new" / n for n in names]
        killed = 0

        def kill_when_moving(done: int, total: int) -> None:
            nonlocal killed
            if done and not killed:
                killed = server.kill_sessions()

        async with server.transfer().connect_for_download(dataset, names[0]) as con:
            with pytest.raises(FileTransferError) as info:
                await con.download_files(
                    remote=remote(folder, *names),
                    local=local,
                    byte_progress=kill_when_moving,
                )
            assert killed
            error = info.value
            assert "connection" in str(error)
            assert "lost" in str(error)
            assert error.host == "127.0.0.1"
            assert error.remote_paths  # the files that were not completed
            assert snapshot(out) == before  # nothing half-written, nothing new
            # The dead connection says so again, plainly.
            with pytest.raises(FileTransferError):
                await con.download_files(
                    remote=remote(folder, names[0]), local=local[:1]
                )
        async with server.transfer().connect_for_download(dataset, names[0]) as con:
            await con.download_files(remote=remote(folder, *names), local=local)
        for name, path in zip(names, local, strict=True):
            assert path.read_bytes() == (folder / name).read_bytes()


async def test_a_file_that_vanished_since_connecting(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    names = _files(sftp_root / "ds", 5, 1000)
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    async with sftp_server.transfer().connect_for_download(dataset, names[0]) as con:
        (sftp_root / "ds" / names[3]).unlink()
        with pytest.raises(FileNotAccessibleError) as info:
            await con.download_files(
                remote=remote(sftp_root / "ds", *names),
                local=[tmp_path / "out" / n for n in names],
            )
    assert [p.name for p in info.value.remote_paths] == [names[3]]
    assert not (tmp_path / "out").exists()


async def test_a_file_that_vanishes_while_others_are_downloaded(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path, snapshot: Snapshot
) -> None:
    """Checked, then gone before its turn comes: what was fetched is removed."""
    folder = sftp_root / "ds"
    names = _files(folder, 40, 64 << 10)
    big = folder / "a-big.dat"
    big.write_bytes(os.urandom(24 << 20))
    names.insert(0, big.name)
    dataset = Dataset(type="raw", source_folder=str(folder))
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(out)
    # One file in flight at a time: the big one is first, the others wait.
    transfer = sftp_server.transfer(channels=1)
    transfer._tuning = type(transfer._tuning)(files_per_channel=1)

    def vanish(done: int, total: int) -> None:
        if done and (folder / names[-1]).exists():
            (folder / names[-1]).unlink()

    async with transfer.connect_for_download(dataset, names[0]) as con:
        with pytest.raises(FileNotAccessibleError, match="no longer exists") as info:
            await con.download_files(
                remote=remote(folder, *names),
                local=[out / n for n in names],
                byte_progress=vanish,
            )
    assert info.value.remote_path == RemotePath(str(folder)) / names[-1]
    assert snapshot(out) == before


async def test_a_folder_without_permission(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    folder = sftp_root / "ds"
    names = _files(folder, 3, 100)
    _files(folder / "locked", 2, 100)
    (folder / "locked").chmod(0o000)
    wanted = [*names, "locked/d000.dat", "locked/d001.dat"]
    dataset = Dataset(type="raw", source_folder=str(folder))
    transfer = sftp_server.transfer(username=OTHER_USER)
    async with transfer.connect_for_download(dataset, names[0]) as con:
        with pytest.raises(FileNotAccessibleError, match="permission denied") as info:
            await con.download_files(
                remote=remote(folder, *wanted),
                local=[tmp_path / f"x{i}" for i in range(5)],
            )
    assert [p.posix for p in info.value.remote_paths] == [
        str(folder / "locked" / "d000.dat"),
        str(folder / "locked" / "d001.dat"),
    ]
    assert list(tmp_path.iterdir()) == []


async def test_a_file_without_read_permission_fails_after_others_were_fetched(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path, snapshot: Snapshot
) -> None:
    """Its metadata can be read (the check passes), its content cannot: the
    download fails mid-way, and everything it fetched is removed."""
    folder = sftp_root / "ds"
    names = _files(folder, 30, 10_000)
    (folder / names[-1]).chmod(0o000)
    dataset = Dataset(type="raw", source_folder=str(folder))
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    before = snapshot(out)
    transfer = sftp_server.transfer(username=OTHER_USER)
    async with transfer.connect_for_download(dataset, names[0]) as con:
        with pytest.raises(FileNotAccessibleError, match="permission denied") as info:
            await con.download_files(
                remote=remote(folder, *names),
                local=[out / "sub" / "new" / n for n in names],
            )
    assert info.value.remote_path == RemotePath(str(folder / names[-1]))
    assert snapshot(out) == before


#: Sizes of a file that changes, by the server's largest read (``block``):
#: read whole or in blocks, with the last block full or not. And how the
#: download sees it grow: by its last read, a byte longer than the rest of
#: the file, where that read is not a whole block already; else by the
#: ``FSTAT`` sent with the ``CLOSE``.
SIZES: dict[str, tuple[Callable[[int], int], str]] = {
    "empty": (lambda block: 0, "it has 9 bytes now, not the 0 bytes"),
    "small": (lambda block: 1000, "it has more than the 1000 bytes"),
    "a-byte-short-of-a-block": (lambda block: block - 1, "it has more than the"),
    "one-block": (lambda block: block, "bytes now, not the"),
    "two-blocks": (lambda block: 2 * block, "bytes now, not the"),
    "blocks-and-a-part": (lambda block: 3 * block + 12345, "it has more than"),
}


def _block(con: SFTPDownloadConnection) -> int:
    """The largest read the connection makes (what the server allows)."""
    return min(c.block for c in con._session.channels)


def _change_after_the_check(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]
) -> None:
    """Run ``change`` once, right after the next download has looked at the
    remote files (their sizes and times are then known) and before it reads
    any of them."""
    original = _sftp_download.check_remote
    pending = [change]

    async def check_then_change(*args: Any, **kwargs: Any) -> Any:
        found = await original(*args, **kwargs)
        while pending:
            pending.pop()()
        return found

    monkeypatch.setattr(_sftp_download, "check_remote", check_then_change)


async def _fails_as_changed_then_completes(
    con: SFTPDownloadConnection,
    folder: Path,
    names: list[str],
    changed: Path,
    out: Path,
    snapshot: Snapshot,
    why: str,
) -> None:
    """The download fails naming ``changed`` and saying ``why``, leaves
    ``out`` as it was, and a second one (the file has settled) fetches every
    file as it is now."""
    before = snapshot(out)
    local = [out / "new" / n for n in names]
    with pytest.raises(FileNotAccessibleError) as info:
        await con.download_files(remote=remote(folder, *names), local=local)
    error = info.value
    assert error.remote_path == RemotePath(str(changed))
    assert f"cannot download {str(changed)!r}" in str(error)
    assert "changed while it was downloaded" in str(error)
    assert why in str(error)
    assert str(error).endswith("nothing was kept")
    assert snapshot(out) == before
    done = await con.download_files(remote=remote(folder, *names), local=local)
    assert done.created == len(names)
    for name, path in zip(names, local, strict=True):
        assert path.read_bytes() == (folder / name).read_bytes(), name
        assert path.stat().st_mtime == int((folder / name).stat().st_mtime)


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_file_that_grows_while_downloaded_fails_the_call(
    sftp_server: SFTPServer,
    sftp_root: Path,
    tmp_path: Path,
    snapshot: Snapshot,
    monkeypatch: pytest.MonkeyPatch,
    size: str,
) -> None:
    """Looked at, then appended to (a file still being written) before it is
    read: a copy of its old size would be a truncated file under the remote
    modification time, reported as a success. The call fails instead,
    naming it, and keeps nothing of it or of the others."""
    folder = sftp_root / "ds"
    names = _files(folder, 5, 3000)
    grows = folder / "grows.dat"
    grows.write_bytes(b"")
    names.insert(2, grows.name)
    dataset = Dataset(type="raw", source_folder=str(folder))
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    sized, why = SIZES[size]

    def grow() -> None:
        with grows.open("ab") as f:
            f.write(b"more data")

    async with sftp_server.transfer().connect_for_download(dataset, names[0]) as con:
        grows.write_bytes(os.urandom(sized(_block(con))))
        _change_after_the_check(monkeypatch, grow)
        await _fails_as_changed_then_completes(
            con, folder, names, grows, out, snapshot, why
        )


@pytest.mark.parametrize("size", ["small", "blocks-and-a-part"])
async def test_a_file_that_shrinks_while_downloaded_fails_the_call(
    sftp_server: SFTPServer,
    sftp_root: Path,
    tmp_path: Path,
    snapshot: Snapshot,
    monkeypatch: pytest.MonkeyPatch,
    size: str,
) -> None:
    """Looked at, then cut short before it is read: the reads find its end
    early."""
    folder = sftp_root / "ds"
    names = _files(folder, 3, 3000)
    shrinks = folder / "shrinks.dat"
    shrinks.write_bytes(b"")
    names.append(shrinks.name)
    dataset = Dataset(type="raw", source_folder=str(folder))
    out = tmp_path / "out"
    out.mkdir()
    async with sftp_server.transfer().connect_for_download(dataset, names[0]) as con:
        length = SIZES[size][0](_block(con))
        shrinks.write_bytes(os.urandom(length))
        _change_after_the_check(monkeypatch, lambda: os.truncate(shrinks, 700))
        await _fails_as_changed_then_completes(
            con,
            folder,
            names,
            shrinks,
            out,
            snapshot,
            f"it became shorter than the {length} bytes it had when it was checked",
        )


async def test_a_file_rewritten_while_downloaded_fails_the_call(
    sftp_server: SFTPServer,
    sftp_root: Path,
    tmp_path: Path,
    snapshot: Snapshot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file read in blocks, rewritten with as many other bytes after the
    check: the copy would hold a mix under the old modification time. (A
    file read in one request is not checked so: see ``_Fetch._fetch``.)"""
    folder = sftp_root / "ds"
    names = _files(folder, 4, 5000)
    rewritten = folder / "rewritten.dat"
    names.insert(1, rewritten.name)
    dataset = Dataset(type="raw", source_folder=str(folder))
    out = tmp_path / "out"
    out.mkdir()
    async with sftp_server.transfer().connect_for_download(dataset, names[0]) as con:
        size = 2 * _block(con) + 100
        rewritten.write_bytes(os.urandom(size))
        os.utime(rewritten, (1_600_000_000, 1_600_000_000))

        def rewrite() -> None:
            rewritten.write_bytes(os.urandom(size))

        _change_after_the_check(monkeypatch, rewrite)
        await _fails_as_changed_then_completes(
            con,
            folder,
            names,
            rewritten,
            out,
            snapshot,
            "it was modified again after it was checked",
        )


async def test_an_unknown_host_is_refused_unless_accepted(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    names = _files(sftp_root / "ds", 1, 10)
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(FileNotAccessibleError, match="not trusted") as info:
        async with sftp_server.transfer(known_hosts=empty).connect_for_download(
            dataset, names[0]
        ):
            pass
    assert "accept_unknown_host_keys" in str(info.value)
    accepting = sftp_server.transfer(known_hosts=empty, accept_unknown_host_keys=True)
    async with accepting.connect_for_download(dataset, names[0]) as con:
        await con.download_file(
            remote=RemotePath(str(sftp_root / "ds")) / names[0], local=tmp_path / "x"
        )
    assert empty.read_text() == ""  # nothing is written to the user's file


async def test_a_changed_host_key_is_always_refused(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    import asyncssh

    names = _files(sftp_root / "ds", 1, 10)
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    changed = tmp_path / "known_hosts"
    changed.write_text(
        sftp_server.known_hosts_line(other_key.export_public_key().decode())
    )
    for accept in (False, True):
        transfer = sftp_server.transfer(
            known_hosts=changed, accept_unknown_host_keys=accept
        )
        with pytest.raises(FileNotAccessibleError, match="changed"):
            async with transfer.connect_for_download(dataset, names[0]):
                pass
    assert list(tmp_path.iterdir()) == [changed]


async def test_login_refused_and_no_server_are_clear_and_show_no_secret(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    import asyncssh

    names = _files(sftp_root / "ds", 1, 10)
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    stranger = tmp_path / "stranger_key"
    stranger.write_bytes(
        asyncssh.generate_private_key("ssh-ed25519").export_private_key(
            passphrase="s3cret-pass"
        )
    )
    transfer = sftp_server.transfer(key_filename=stranger, password="s3cret-pass")
    assert "s3cret" not in repr(transfer)
    with pytest.raises(FileNotAccessibleError, match="refused the login") as info:
        async with transfer.connect_for_download(dataset, names[0]):
            pass
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in repr(info.value.__cause__)
    nobody_listens = SFTPFileTransfer(
        host="127.0.0.1", port=1, password="s3cret-pass", ssh_config=False
    )
    with pytest.raises(FileNotAccessibleError, match="cannot connect") as info:
        async with nobody_listens.connect_for_download(dataset, names[0]):
            pass
    assert "s3cret" not in str(info.value)


async def test_custom_connect_hook(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    """Scitacean's ``connect=`` hook: the caller makes the SSH connection."""
    import asyncssh

    names = _files(sftp_root / "ds", 2, 100)
    dataset = Dataset(type="raw", source_folder=str(sftp_root / "ds"))
    calls: list[tuple[str, int]] = []

    async def connect(host: str, port: int) -> asyncssh.SSHClientConnection:
        calls.append((host, port))
        return await asyncssh.connect(
            host,
            port,
            username=sftp_server.username,
            client_keys=[sftp_server.key_filename],
            known_hosts=sftp_server.known_hosts,
            config=None,
        )

    transfer = SFTPFileTransfer(
        host="127.0.0.1", port=sftp_server.port, connect=connect
    )
    async with transfer.connect_for_download(dataset, names[0]) as con:
        await con.download_files(
            remote=remote(sftp_root / "ds", *names), local=[tmp_path / n for n in names]
        )
    assert calls == [("127.0.0.1", sftp_server.port)]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


async def test_cancelled_while_connecting(sshd_binary: str) -> None:
    """A server that accepts but never answers: cancelling the connect returns
    promptly, and nothing is left running."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        transfer = SFTPFileTransfer(host="127.0.0.1", port=port, ssh_config=False)
        dataset = Dataset(type="raw", source_folder="/data")
        with anyio.move_on_after(0.5) as scope:
            async with transfer.connect_for_download(dataset, "x"):
                pass
        assert scope.cancelled_caught


def test_packets_of_one_loop_turn_leave_together(sftp_server: SFTPServer) -> None:
    """The one reach into asyncssh's internals (``_sftp_wire``) still works:
    an asyncssh upgrade that changes them must fail here, not go unnoticed.
    asyncssh runs on asyncio only, hence no trio variant."""
    import asyncssh

    from alink.transfer._sftp_wire import coalesce_writes

    async def main() -> None:
        async with asyncssh.connect(
            sftp_server.host,
            sftp_server.port,
            username=sftp_server.username,
            client_keys=[sftp_server.key_filename],
            known_hosts=sftp_server.known_hosts,
            config=None,
        ) as connection:
            assert coalesce_writes(connection)
            assert coalesce_writes(connection)  # once is enough
            async with connection.start_sftp_client() as sftp:
                found = await anyio.to_thread.run_sync(os.getcwd)
                many = [sftp.stat(found) for _ in range(50)]
                for request in many:
                    assert (await request).permissions

    anyio.run(main, backend="asyncio")


_CHILD = """
import sys, anyio
from alink import Dataset, RemotePath
from alink.transfer.sftp import SFTPFileTransfer

host, port, user, key, known, source, target, *names = sys.argv[1:]

def moving(done, total):
    if done:
        print("moving", flush=True)

async def main():
    transfer = SFTPFileTransfer(host=host, port=int(port), username=user,
        key_filename=key, known_hosts=known, ssh_config=False)
    dataset = Dataset(type="raw", source_folder=source)
    async with transfer.connect_for_download(dataset, names[0]) as con:
        await con.download_files(
            remote=[RemotePath(source) / n for n in names],
            local=[f"{target}/{n}" for n in names], byte_progress=moving)
    print("finished", flush=True)

anyio.run(main)
"""


async def test_killed_mid_download_then_rerun_completes(
    sftp_server: SFTPServer, sftp_root: Path, tmp_path: Path
) -> None:
    """``kill -9`` cannot roll back: it leaves temporary files, never a half
    file under a final name; the next download sweeps them and completes."""
    import signal
    import sys

    folder = sftp_root / "ds"
    names = _files(folder, 6, 16 << 20)
    target = tmp_path / "out"
    target.mkdir()
    command = [
        sys.executable, "-c", _CHILD, sftp_server.host, str(sftp_server.port),
        sftp_server.username, sftp_server.key_filename, sftp_server.known_hosts,
        str(folder), str(target), *names,
    ]  # fmt: skip
    async with await anyio.open_process(command, stderr=None) as child:
        assert child.stdout is not None
        seen = b""
        while b"\n" not in seen:
            seen += await child.stdout.receive()
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert seen.startswith(b"moving")
    left = sorted(p.name for p in target.iterdir())
    assert all(".alink-" in name for name in left)  # only temporary files
    dataset = Dataset(type="raw", source_folder=str(folder))
    async with sftp_server.transfer().connect_for_download(dataset, names[0]) as con:
        await con.download_files(
            remote=remote(folder, *names), local=[target / n for n in names]
        )
    assert sorted(p.name for p in target.iterdir()) == names
    for name in names:
        assert (target / name).read_bytes() == (folder / name).read_bytes()
