"""``SFTPServer``: a real OpenSSH ``sshd`` on 127.0.0.1 serving files over SFTP.

For tests of code that uses :class:`~alink.transfer.sftp.SFTPFileTransfer`:
no Docker and no mock of SSH, the system's own ``sshd`` (Debian package
``openssh-server``) runs as a child process with a configuration, a host key,
a client key and an ``authorized_keys`` file of its own in a temporary
folder. Nothing outside that folder is read or changed, except the
privilege-separation folder ``/run/sshd`` that ``sshd`` needs when it runs as
root (created if missing, as the system service would).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio.to_thread

if TYPE_CHECKING:
    from ..transfer.sftp import SFTPFileTransfer

__all__ = ["SFTPServer", "find_sshd"]

#: Where Debian and most distributions install the daemon (often not on PATH).
_SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
#: How long :meth:`SFTPServer.start` waits for the daemon to listen.
_START_TIMEOUT = 10.0


def find_sshd() -> str | None:
    """The path of the OpenSSH daemon, or ``None`` when it is not installed."""
    found = shutil.which("sshd")
    if found:
        return found
    for candidate in _SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _write_key(path: Path, mode: int) -> str:
    """A new Ed25519 key at ``path`` (OpenSSH format); returns the public key line."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    path.write_bytes(key.export_private_key())
    path.chmod(mode)
    public: bytes = key.export_public_key()
    Path(f"{path}.pub").write_bytes(public)
    return public.decode().strip()


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from ``/proc``), children first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


class SFTPServer:
    """The system's OpenSSH ``sshd`` on 127.0.0.1 (a free port), for tests.

    It accepts one freshly generated client key (:attr:`key_filename`) for
    :attr:`username` — the user running the tests — and, when the tests run
    as root, for any other local user too (``username=`` of the transfer),
    which is how a test sees a permission denied that root would bypass.
    SFTP is served by ``internal-sftp``; paths are the machine's own, so
    :attr:`root` (a folder of its own unless one is given) is where test
    files go. :attr:`known_hosts` holds the server's host key, so clients
    verify it as they would a real server's.

    Use it with ``with SFTPServer() as server:`` or ``async with`` (start and
    stop run on a worker thread), or call :meth:`start` and :meth:`stop`.

    Args:
        root: Folder the tests serve files from; default: a new temporary
            folder, removed on :meth:`stop`. It is made readable for every
            user (mode 0755) so other local users can log in to it.
        sshd: The daemon to run; default: :func:`find_sshd`.
        options: Extra ``sshd_config`` lines, e.g. ``{"MaxSessions": "2"}``.
        chroot: Confine SFTP sessions to :attr:`root` (``ChrootDirectory``):
            the server then sees :attr:`root` as ``/``, so its paths do not
            exist on this machine — like a file server whose storage is not
            mounted here. :meth:`remote_path` translates. Needs root (sshd
            only chroots as root); :attr:`root` is then a new folder below
            ``/run``, as sshd wants every folder above it owned by root and
            writable by no one else. ``root=`` cannot be given with it.

    Raises:
        FileNotFoundError: on start, when no ``sshd`` is installed (Debian:
            ``apt-get install openssh-server``).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        sshd: str | None = None,
        options: dict[str, str] | None = None,
        chroot: bool = False,
    ) -> None:
        if chroot and root is not None:
            raise ValueError("a chroot server makes its own root folder")
        self._chroot = chroot
        self._given_root = Path(root) if root is not None else None
        self._sshd = sshd
        self._options = dict(options or {})
        self._state: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None
        self.port = 0
        self.username = getpass.getuser()

    def __repr__(self) -> str:
        state = f"port={self.port}" if self._process is not None else "stopped"
        return f"SFTPServer({state}, root={str(self._root)!r})"

    # ---------------------------------------------------------------- paths

    def _folder(self) -> Path:
        if self._state is None:
            raise RuntimeError("the SFTP server is not running")
        return self._state

    @property
    def root(self) -> Path:
        """The folder test files are served from."""
        if self._root is None:
            raise RuntimeError("the SFTP server is not running")
        return self._root

    @property
    def key_filename(self) -> str:
        """The client's private key (no passphrase)."""
        return str(self._folder() / "client_key")

    @property
    def known_hosts(self) -> str:
        """A ``known_hosts`` file that lists this server's host key."""
        return str(self._folder() / "known_hosts")

    @property
    def host_public_key(self) -> str:
        """The server's host key, as an OpenSSH public key line."""
        return (self._folder() / "host_key.pub").read_text().strip()

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        if self._process is None:
            raise RuntimeError("the SFTP server is not running")
        return self._process.pid

    def remote_path(self, local: str | os.PathLike[str]) -> str:
        """The server's path for ``local`` (a path below :attr:`root`): the
        same path, or for a chroot server the part below :attr:`root`."""
        path = Path(local)
        if not self._chroot:
            return str(path)
        return "/" + str(path.relative_to(self.root)).removeprefix(".")

    def known_hosts_line(self, public_key: str | None = None) -> str:
        """The ``known_hosts`` line for this server (with ``public_key`` instead
        of the real one, to simulate a changed host key)."""
        key = " ".join((public_key or self.host_public_key).split()[:2])
        return f"[{self.host}]:{self.port} {key}\n"

    def transfer(self, **kwargs: Any) -> SFTPFileTransfer:
        """An :class:`~alink.transfer.sftp.SFTPFileTransfer` for this server.

        Host, port, user, key and ``known_hosts`` are filled in; ``kwargs``
        add to or override them.
        """
        from ..transfer.sftp import SFTPFileTransfer

        settings: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "key_filename": self.key_filename,
            "known_hosts": self.known_hosts,
            "ssh_config": None,
        }
        settings.update(kwargs)
        return SFTPFileTransfer(**settings)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Write the keys and configuration, start ``sshd`` and wait until it
        accepts connections.

        Blocks (a fraction of a second, up to the start timeout): async code
        uses ``async with SFTPServer()``, which runs this on a worker thread.
        """
        if self._process is not None:
            raise RuntimeError("the SFTP server is already running")
        sshd = self._sshd or find_sshd()
        if sshd is None:
            raise FileNotFoundError(
                "no OpenSSH server (sshd) is installed; on Debian or Ubuntu:"
                " apt-get install openssh-server"
            )
        if self._chroot and os.geteuid() != 0:
            raise RuntimeError("a chroot SFTP server needs root (sshd chroots as root)")
        state = Path(tempfile.mkdtemp(prefix="alink-sshd-"))
        state.chmod(0o755)
        self._state = state
        try:
            if self._chroot:
                self._root = Path(tempfile.mkdtemp(prefix="alink-sftp-", dir="/run"))
            elif self._given_root is not None:
                self._root = self._given_root
            else:
                self._root = state / "root"
                self._root.mkdir()
            self._root.chmod(0o755)
            host_key = _write_key(state / "host_key", 0o600)
            client_key = _write_key(state / "client_key", 0o600)
            authorized = state / "authorized_keys"
            authorized.write_text(client_key + "\n")
            authorized.chmod(0o644)
            if os.geteuid() == 0:
                # What the system service's RuntimeDirectory would provide.
                os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            self._launch(sshd, state, host_key)
        except BaseException:
            self._cleanup()
            raise

    def _launch(self, sshd: str, state: Path, host_key: str) -> None:
        last_error = ""
        for _ in range(5):  # a free port may be taken between probe and bind
            self.port = _free_port()
            (state / "known_hosts").write_text(self.known_hosts_line(host_key))
            config = state / "sshd_config"
            config.write_text(self._config(state))
            log = open(state / "sshd.log", "wb")  # noqa: SIM115 - closed below
            try:
                process = subprocess.Popen(
                    [sshd, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            finally:
                log.close()
            if self._wait_listening(process):
                self._process = process
                return
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
            last_error = (state / "sshd.log").read_text(errors="replace").strip()
        raise RuntimeError(f"sshd did not start: {last_error}")

    def _config(self, state: Path) -> str:
        lines = {
            "Port": str(self.port),
            "ListenAddress": self.host,
            "HostKey": str(state / "host_key"),
            "PidFile": str(state / "sshd.pid"),
            "AuthorizedKeysFile": str(state / "authorized_keys"),
            "StrictModes": "no",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "UsePAM": "no",
            "PermitRootLogin": "prohibit-password",
            "Subsystem": "sftp internal-sftp",
            "MaxStartups": "100",
            "MaxSessions": "50",
            "LogLevel": "ERROR",
        }
        if self._chroot:
            lines["ChrootDirectory"] = str(self.root)
        lines.update(self._options)
        return "".join(f"{key} {value}\n" for key, value in lines.items())

    def _wait_listening(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether ``sshd`` came to listen (``False``: it exited, or timed out).

        Runs on the caller's thread: ``start`` is synchronous (``async with``
        runs it on a worker thread).
        """
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.5) as probe,
            ):
                # sshd speaks first: its banner says it is the one listening.
                probe.settimeout(2)
                if probe.recv(4).startswith(b"SSH-"):
                    return True
            # Not listening yet: wait a moment for it, or for its exit.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.02)
                return False
        return False

    def kill_sessions(self) -> int:
        """Kill (``SIGKILL``) every session process of the daemon: each client
        connection drops at once, as when the server dies mid-transfer. The
        daemon keeps listening, so a new connection works. Returns how many
        processes were killed."""
        killed = 0
        for pid in _descendants(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed

    def stop(self) -> None:
        """Stop the daemon and its sessions; remove the keys and configuration
        (and :attr:`root`, if the server made it)."""
        self._cleanup()

    def _cleanup(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            for pid in _descendants(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        state, self._state = self._state, None
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)
        if self._chroot and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)
