"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alink.testing import SFTPServer, find_sshd

# alink's own fixtures (scicat_server and friends) come from its pytest
# plugin, as in a user's suite: the ``pytest11`` entry point registers them
# wherever alink is installed. pytester runs the plugin's own tests.
pytest_plugins = ["pytester"]

Snapshot = dict[str, tuple[str, str, int]]

#: ``permissions_bind(command, probe)``: see the fixture.
PermissionsBind = Callable[[list[str], Path], list[str]]

_MKDIR = "import os, sys; os.mkdir(sys.argv[1])"


@pytest.fixture
def permissions_bind() -> PermissionsBind:
    """``bind(command, probe)``: ``command`` run so that file permissions apply.

    A normal user: as it is. Root: without the capabilities that override
    permissions (util-linux's ``setpriv``), as root ignores a folder's mode
    otherwise; the test is skipped when that is not possible here. ``probe``
    is a path in a folder the command may not write to: creating it must
    fail for the permissions to count as binding.
    """

    def bind(command: list[str], probe: Path) -> list[str]:
        if os.geteuid() != 0:
            return command
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("as root, and setpriv is missing: permissions do not bind")
        drop = "-dac_override,-dac_read_search,-fowner"
        wrapped = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", "--"]
        check = subprocess.run(
            [*wrapped, sys.executable, "-c", _MKDIR, str(probe)],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if probe.exists() or check.returncode == 0:
            shutil.rmtree(probe, ignore_errors=True)
            pytest.skip("cannot drop root's capabilities here: permissions do not bind")
        return wrapped + command

    return bind


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _snapshot(root: Path) -> Snapshot:
    """Every entry below ``root``: kind, link target or content, and mtime."""
    tree: Snapshot = {}
    if not root.exists():
        return tree
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if os.path.islink(path):
                tree[rel] = ("link", os.readlink(path), st.st_mtime_ns)
            elif os.path.isdir(path):
                tree[rel] = ("dir", "", st.st_mtime_ns)
            else:
                tree[rel] = ("file", Path(path).read_bytes().hex(), st.st_mtime_ns)
    return tree


@pytest.fixture
def snapshot() -> Callable[[Path], Snapshot]:
    """A function that records a whole tree, to prove nothing changed."""
    return _snapshot


@pytest.fixture(params=["text", "compact"])
def plans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a download test with plans that keep local paths as text, and with
    compact ones that keep the caller's ``Path`` objects (used for very large
    downloads, see ``alink.transfer._plan.COMPACT_FROM``)."""
    from alink.transfer import _plan

    if request.param == "compact":
        monkeypatch.setattr(_plan, "COMPACT_FROM", 0)
    return str(request.param)


def pytest_configure(config: pytest.Config) -> None:
    """Put ``tmp_path`` on tmpfs when there is one.

    The tests create and remove tens of thousands of entries; on this
    project's CI disk that is slow for reasons that have nothing to do with
    alink. ``--basetemp`` still wins when given.
    """
    if config.option.basetemp is None and os.path.isdir("/dev/shm"):
        import tempfile

        config.option.basetemp = tempfile.mkdtemp(prefix="alink-tests-", dir="/dev/shm")
        config.stash[_SCRATCH] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    scratch = config.stash.get(_SCRATCH, None)
    if scratch is not None:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


_SCRATCH = pytest.StashKey[str]()


# ------------------------------------------------- SFTP: a real OpenSSH sshd
#
# The server is the system's own (Debian package ``openssh-server``). When it
# is missing and this process may install it (root, ``apt-get``), it is
# installed once per test session, so a fresh CI machine needs no set-up
# step; elsewhere the SFTP tests are skipped, saying why.

#: What the skip says where sshd can be neither found nor installed.
_HOW = "install the Debian/Ubuntu package openssh-server to run the SFTP tests"


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _install_sshd() -> str | None:
    """Install openssh-server with apt-get; ``None`` on success, else why not."""
    result = _apt("install", "-y", "-q", "--no-install-recommends", "openssh-server")
    if result.returncode != 0:  # perhaps no package lists yet (fresh image)
        _apt("update", "-q")
        result = _apt(
            "install", "-y", "-q", "--no-install-recommends", "openssh-server"
        )
    if result.returncode != 0:
        tail = " ".join((result.stderr or result.stdout).split()[-30:])
        return f"apt-get install openssh-server failed: {tail}"
    return None


@pytest.fixture(scope="session")
def sshd_binary() -> str:
    """The OpenSSH daemon; installed first where it is missing and can be."""
    pytest.importorskip("asyncssh")
    found = find_sshd()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"sshd is not installed and cannot be installed here; {_HOW}")
    problem = _install_sshd()
    found = find_sshd()
    if found is None:
        pytest.skip(f"{problem or 'sshd still missing after installing it'}; {_HOW}")
    return found


@pytest.fixture(scope="session")
def sftp_server(sshd_binary: str) -> Iterator[SFTPServer]:
    """One running :class:`~alink.testing.SFTPServer` for the whole session."""
    with SFTPServer(sshd=sshd_binary) as server:
        yield server


@pytest.fixture
def sftp_root(sftp_server: SFTPServer) -> Iterator[Path]:
    """A fresh folder on the served side, readable by every local user."""
    folder = sftp_server.root / uuid.uuid4().hex[:12]
    folder.mkdir()
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sftp_elsewhere(sshd_binary: str) -> Iterator[SFTPServer]:
    """A server whose paths do not exist on this machine (a chroot), as seen
    from a laptop without the facility's mount."""
    if os.geteuid() != 0:
        pytest.skip("a chroot sshd needs root")
    with SFTPServer(sshd=sshd_binary, chroot=True) as server:
        yield server
