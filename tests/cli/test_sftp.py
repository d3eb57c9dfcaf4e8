"""``alink download --sftp HOST``: download over SSH from a real OpenSSH server.

The server is a chroot (``sftp_elsewhere``): the dataset's folder exists on
the server only, as on a laptop without the facility's mount. The command
logs in the way ``ssh`` does — here through a host alias in a
``~/.ssh/config`` of a temporary home folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from alink.cli import ExitCode, cli
from alink.cli._download import SftpServer
from alink.testing import ScicatServer, SFTPServer, dataset_from_directory
from alink.transfer import _sftp_download

from .conftest import one_error_line

PID = "20.500.12269/cli-sftp"
FILES = {"a.dat": b"a" * 3000, "sub/b.dat": b"b" * 70_000, "sub/c.txt": b"c\n"}


@pytest.fixture
def home(
    sftp_elsewhere: SFTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A home folder whose SSH config knows the server as ``facility``."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host facility\n"
        f"  HostName {sftp_elsewhere.host}\n"
        f"  Port {sftp_elsewhere.port}\n"
        f"  User {sftp_elsewhere.username}\n"
        f"  IdentityFile {sftp_elsewhere.key_filename}\n"
        f"  UserKnownHostsFile {sftp_elsewhere.known_hosts}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
def scicat(sftp_elsewhere: SFTPServer) -> ScicatServer:
    local_view = sftp_elsewhere.root / "facility" / "run7"
    for rel, data in FILES.items():
        (local_view / rel).parent.mkdir(parents=True, exist_ok=True)
        (local_view / rel).write_bytes(data)
    generated = dataset_from_directory(
        local_view, pid=PID, source_folder=sftp_elsewhere.remote_path(local_view)
    )
    return ScicatServer(
        datasets=[generated.dataset],
        orig_datablocks=list(generated.orig_datablocks),
        users={"u": "pw"},
    )


def run(scicat: ScicatServer, *args: str, backend: str = "asyncio") -> Result:
    env = {"SCICAT_TOKEN": scicat.token("u"), "ALINK_ALLOWED_ROOTS": None}
    return CliRunner().invoke(
        cli,
        ["download", PID, "--url", scicat.url, "--backend", backend, *args],
        env=env,
        catch_exceptions=False,
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_download_over_sftp_then_again(
    home: Path, scicat: ScicatServer, tmp_path: Path, backend: str
) -> None:
    target = tmp_path / "out"
    with scicat:
        result = run(
            scicat, "--sftp", "facility", "--target", str(target), backend=backend
        )
        assert result.exit_code == 0, result.stderr
        assert "3 downloaded over SFTP" in result.stdout
        again = run(scicat, "--sftp", "facility", "--target", str(target))
    assert again.exit_code == 0, again.stderr
    assert "3 already in place" in again.stdout
    for rel, data in FILES.items():
        assert (target / Path(rel).name).read_bytes() == data


def test_force_replaces_only_what_differs(
    home: Path, scicat: ScicatServer, tmp_path: Path
) -> None:
    """``--force`` over SFTP, as with ``--link`` and ``--copy``: files already
    in place are left as they are (not downloaded again); one that differs
    is replaced."""
    target = tmp_path / "out"
    args = ("--sftp", "facility", "--target", str(target))
    with scicat:
        assert run(scicat, *args).exit_code == 0
        inodes = {p.name: p.stat().st_ino for p in target.iterdir()}
        forced = run(scicat, *args, "--force")
        assert forced.exit_code == 0, forced.stderr
        assert "(3 already in place;" in forced.stdout
        assert {p.name: p.stat().st_ino for p in target.iterdir()} == inodes
        (target / "a.dat").write_bytes(b"my own edits")
        refused = run(scicat, *args)
        assert refused.exit_code == ExitCode.FILE_EXISTS
        assert "--force" in one_error_line(refused)
        forced = run(scicat, *args, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "(1 replaced, 2 already in place;" in forced.stdout
    assert (target / "a.dat").read_bytes() == FILES["a.dat"]
    del inodes["a.dat"]
    assert {n: (target / n).stat().st_ino for n in inodes} == inodes


def test_a_file_still_being_written_stops_the_run_and_keeps_nothing(
    home: Path,
    scicat: ScicatServer,
    sftp_elsewhere: SFTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A remote file that grows between the check and its read: exit code 6
    naming it, nothing created; the same command completes once it is done."""
    grows = sftp_elsewhere.root / "facility" / "run7" / "sub" / "b.dat"
    original = _sftp_download.check_remote

    async def check_then_grow(*args: Any, **kwargs: Any) -> Any:
        found = await original(*args, **kwargs)
        monkeypatch.setattr(_sftp_download, "check_remote", original)
        with grows.open("ab") as f:
            f.write(b"more")
        return found

    monkeypatch.setattr(_sftp_download, "check_remote", check_then_grow)
    target = tmp_path / "out"
    args = ("--sftp", "facility", "--target", str(target), "--no-checksum")
    with scicat:
        failed = run(scicat, *args)
        assert failed.exit_code == ExitCode.NOT_ACCESSIBLE, failed.stderr
        line = one_error_line(failed)
        assert "/facility/run7/sub/b.dat" in line
        assert "changed while it was downloaded" in line
        assert "nothing was kept" in line
        assert not target.exists()
        # Complete now: as the catalogue lists it.
        grows.write_bytes(FILES["sub/b.dat"])
        again = run(scicat, *args)
    assert again.exit_code == 0, again.stderr
    assert "3 downloaded over SFTP" in again.stdout
    assert (target / "b.dat").read_bytes() == FILES["sub/b.dat"]


def test_auto_tries_link_and_copy_then_sftp(
    home: Path, scicat: ScicatServer, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    with scicat:
        result = run(scicat, "--auto", "--sftp", "facility", "--target", str(target))
        assert result.exit_code == 0, result.stderr
        assert "--auto chose sftp" in result.stdout
        assert (target / "b.dat").read_bytes() == FILES["sub/b.dat"]
        # Without --sftp, --auto has nothing that reaches the files.
        alone = run(scicat, "--auto", "--target", str(tmp_path / "other"))
    assert alone.exit_code == ExitCode.NOT_ACCESSIBLE
    assert not (tmp_path / "other").exists()


def test_unknown_host_key_is_a_clear_error(
    home: Path, scicat: ScicatServer, tmp_path: Path
) -> None:
    config = home / ".ssh" / "config"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    text = config.read_text().splitlines()
    text[-1] = f"  UserKnownHostsFile {empty}"
    config.write_text("\n".join(text) + "\n")
    with scicat:
        result = run(scicat, "--sftp", "facility", "--target", str(tmp_path / "out"))
    assert result.exit_code == ExitCode.NOT_ACCESSIBLE
    assert "host key" in one_error_line(result)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--link", "--sftp", "facility"], "exclude each other"),
        (["--copy", "--sftp", "facility"], "exclude each other"),
        (["--sftp", "facility:99999"], "not a TCP port"),
        (["--sftp", "@facility"], "user name"),
        (["--sftp", ""], "empty"),
    ],
)
def test_bad_sftp_options_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("SCICAT_TOKEN", "t")
    result = CliRunner().invoke(
        cli,
        [
            *("download", PID, "--url", "http://127.0.0.1:9"),
            *("--target", str(tmp_path), *args),
        ],
    )
    assert result.exit_code == ExitCode.USAGE
    assert message in one_error_line(result)


def test_parse_sftp_server() -> None:
    assert SftpServer.parse("host") == SftpServer("host", None, None)
    assert SftpServer.parse("ann@host:2222") == SftpServer("host", 2222, "ann")
    assert SftpServer.parse("[::1]:2200") == SftpServer("::1", 2200, None)
    assert SftpServer.parse("[::1]") == SftpServer("::1", None, None)
    assert SftpServer.parse("a@b@host") == SftpServer("host", None, "a@b")
    assert SftpServer.parse("::1") == SftpServer("::1", None, None)
    for bad in ("host:x", "[::1", "[::1]x", "ho st", "host:0"):
        with pytest.raises(ValueError):  # noqa: PT011 - the messages vary
            SftpServer.parse(bad)


def test_a_profiles_sftp_host_is_the_last_resort_of_auto(
    home: Path,
    scicat: ScicatServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A profile with ``transfer = "auto"`` and an ``sftp_host`` (as the ESS
    ones have) tries link, copy, then SFTP from that host, with no --sftp."""
    profiles = tmp_path / "profiles.toml"
    monkeypatch.setenv("ALINK_PROFILES", str(profiles))
    target = tmp_path / "out"
    with scicat:
        profiles.write_text(
            f'[profiles.site]\nurl = "{scicat.url}"\ntransfer = "auto"\n'
            'sftp_host = "facility"\n'
        )
        result = CliRunner().invoke(
            cli,
            ["--profile", "site", "download", PID, "--target", str(target)],
            env={"SCICAT_TOKEN": scicat.token("u"), "ALINK_ALLOWED_ROOTS": None},
            catch_exceptions=False,
        )
    assert result.exit_code == 0, result.stderr
    assert "--auto chose sftp" in result.stdout
    for rel, data in FILES.items():
        assert (target / Path(rel).name).read_bytes() == data
