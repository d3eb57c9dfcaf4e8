"""SSH connections and SFTP sessions of one SFTP transfer connection.

Everything here runs on the connection's private asyncio loop (see
``_sftp_bridge``); it is anyio code calling asyncssh. A *session* is one
SFTP channel; a connection can carry several, so that files move over more
than one channel at once (each has its own SSH flow-control window and its
own server process) without logging in again.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from .._errors import FileNotAccessibleError, FileTransferError
from .._names import summarise
from .._paths import RemotePath
from ._sftp_bridge import Bridge
from ._sftp_wire import coalesce_writes

if TYPE_CHECKING:
    import asyncssh

__all__ = [
    "DEFAULT_CIPHERS",
    "Connector",
    "Lane",
    "Session",
    "SSHSettings",
    "error_detail",
    "is_connection_error",
    "open_session",
]

#: An SSH connection factory: ``await connect(host, port)``, on asyncio.
Connector = Callable[[str, int], Awaitable["asyncssh.SSHClientConnection"]]

#: Cipher preference: AES-GCM first (hardware AES makes it the fastest on
#: common CPUs, see docs/design.md), then the rest of asyncssh's defaults.
DEFAULT_CIPHERS: tuple[str, ...] = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)

#: Bytes per read or write request when the server announces no limit.
_DEFAULT_BLOCK = 1 << 18
#: Seconds to wait for a clean close of a session at the end.
_CLOSE_SECONDS = 5.0


def _load_asyncssh() -> Any:
    try:
        import asyncssh
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "SFTPFileTransfer needs asyncssh: pip install 'alink[sftp]'"
        ) from exc
    return asyncssh


@dataclass(frozen=True, slots=True)
class SSHSettings:
    """How to reach and log in to the file server (secrets kept out of repr)."""

    host: str
    #: ``None``: the SSH config's port for the host, else 22.
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    key_filename: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    accept_unknown_host_keys: bool = False
    ssh_config: str | tuple[()] | None = ()
    ciphers: tuple[str, ...] | None = DEFAULT_CIPHERS
    connect_timeout: float = 30.0
    keepalive_interval: float = 15.0
    connect: Connector | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port is not None else ""
        return f"{user}{self.host}{port}"


def _known_files(resolved: Any) -> list[str]:
    """The ``known_hosts`` files asyncssh resolved from the options and config."""
    if resolved is None:
        return []
    if isinstance(resolved, str | os.PathLike):
        return [os.fspath(resolved)]
    files = [os.fspath(f) for f in resolved if isinstance(f, str | os.PathLike)]
    if not files:
        default = Path("~", ".ssh", "known_hosts").expanduser()
        files = [str(default)]
    return [f for f in files if os.path.isfile(f)]


def _unknown_host_client(ssh: Any, files: list[str]) -> Any:
    """An asyncssh client that accepts the key of a host *absent* from
    ``files``; asyncssh asks it only about keys it does not trust already."""

    class _AcceptUnknown(ssh.SSHClient):  # type: ignore[misc]
        def validate_host_public_key(
            self, host: str, addr: str, port: int, key: Any
        ) -> bool:
            lookup_port = port if port != 22 else None
            for path in files:
                known = ssh.read_known_hosts(path)
                for name in (host, addr):
                    trusted, ca_keys, revoked, *_ = known.match(name, addr, lookup_port)
                    if trusted or ca_keys or revoked:
                        return False  # listed with another key: it changed
            return True

    return _AcceptUnknown


def _options(settings: SSHSettings, ssh: Any) -> Any:
    """asyncssh's connection options (reads the SSH config: a worker thread)."""
    options: dict[str, Any] = {
        "connect_timeout": settings.connect_timeout,
        "keepalive_interval": settings.keepalive_interval,
    }
    if settings.known_hosts is not None:
        options["known_hosts"] = settings.known_hosts
    if settings.username is not None:
        options["username"] = settings.username
    if settings.password is not None:
        options["password"] = settings.password
    if settings.key_filename is not None:
        options["client_keys"] = [settings.key_filename]
    if settings.passphrase is not None:
        options["passphrase"] = settings.passphrase
    elif settings.password is not None and settings.key_filename is not None:
        # Scitacean's convention: with a key file, the password unlocks it.
        options["passphrase"] = settings.password
    if settings.ciphers is not None:
        options["encryption_algs"] = list(settings.ciphers)
    resolved = ssh.SSHClientConnectionOptions(
        host=settings.host,
        port=settings.port if settings.port is not None else (),
        config=settings.ssh_config,
        **options,
    )
    if settings.accept_unknown_host_keys:
        files = _known_files(resolved.known_hosts)
        resolved = ssh.SSHClientConnectionOptions(
            resolved, client_factory=_unknown_host_client(ssh, files)
        )
    return resolved


async def _default_connect(settings: SSHSettings) -> asyncssh.SSHClientConnection:
    ssh = _load_asyncssh()
    options = await anyio.to_thread.run_sync(_options, settings, ssh)
    connection: asyncssh.SSHClientConnection = await ssh.connect(
        settings.host,
        settings.port if settings.port is not None else (),
        config=settings.ssh_config,
        options=options,
    )
    return connection


def _connect_error(settings: SSHSettings, error: BaseException) -> NoReturn:
    """Raise the :class:`FileNotAccessibleError` that explains ``error``."""
    ssh = _load_asyncssh()
    where = settings.where
    if isinstance(error, ssh.HostKeyNotVerifiable):
        hosts = settings.known_hosts or "~/.ssh/known_hosts"
        reason = (
            f"the host key of {settings.host} is not trusted: it is not in"
            f" {hosts}, or it differs from the key listed there (has it changed?)."
            " Verify the key and add it to known_hosts (e.g. connect once with"
            " `ssh`), or, for a host never seen before, pass"
            " accept_unknown_host_keys=True"
        )
    elif isinstance(error, ssh.PermissionDenied):
        reason = "the server refused the login (no key or password it accepts)"
    elif isinstance(error, TimeoutError):
        reason = f"no answer within {settings.connect_timeout:g} s"
    elif isinstance(error, ssh.Error):
        reason = f"SSH error: {error.reason or type(error).__name__}"
    elif isinstance(error, OSError):
        reason = error.strerror or str(error) or type(error).__name__
    else:
        reason = f"{type(error).__name__}: {error}"
    raise FileNotAccessibleError(
        f"cannot connect to the file server {where} over SSH: {reason}",
        remote_path=None,
    ) from error


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` means the SSH connection or the SFTP session is gone."""
    ssh = _load_asyncssh()
    return isinstance(
        error,
        ssh.ConnectionLost
        | ssh.DisconnectError
        | ssh.SFTPConnectionLost
        | ssh.SFTPNoConnection
        | ssh.ChannelOpenError
        | BrokenPipeError
        | ConnectionError
        | EOFError,
    )


def error_detail(error: BaseException) -> str:
    """What an SSH/SFTP error says: asyncssh's ``reason``, else its text."""
    return getattr(error, "reason", None) or str(error) or type(error).__name__


def transfer_error(
    settings: SSHSettings,
    error: BaseException,
    what: str,
    unfinished: Sequence[str] = (),
    *,
    left: Sequence[str] = (),
) -> FileTransferError:
    """A :class:`FileTransferError` for a failure while ``what`` (e.g.
    ``"downloading"``); ``unfinished`` are the remote files not completed,
    ``left`` what the rollback could not remove (the connection was gone)."""
    paths = [RemotePath(p) for p in unfinished]
    detail = error_detail(error)
    if is_connection_error(error):
        cause = f"the connection to {settings.where} was lost ({detail})"
    else:
        cause = f"{settings.where} failed a request ({detail})"
    files = f"; {len(paths)} file(s) were not completed" if paths else ""
    if left:
        undone = (
            f"; {len(left)} entry(ies) this call created could not be removed"
            f" and remain on the server: {summarise(list(left))}"
        )
    else:
        undone = (
            "; everything this call created was removed, so running it again"
            " completes it"
        )
    return FileTransferError(
        f"{what} over SFTP failed: {cause}{files}{undone}",
        host=settings.host,
        remote_path=paths[0] if paths else None,
        remote_paths=paths,
    )


@dataclass(slots=True)
class Channel:
    """One SFTP session and the request size it uses."""

    sftp: asyncssh.SFTPClient
    block: int


@dataclass(slots=True)
class Lane:
    """A further private loop of a connection, with a session of its own."""

    bridge: Bridge
    session: Session


class Session:
    """The SSH connection and SFTP channels of one private loop.

    The first channel is opened by :func:`open_session`; :meth:`widen` adds
    more (up to ``channels``) when a call moves enough data for them to pay
    off. A transfer connection's first session also holds its further
    *lanes* (:meth:`add_lanes`): up to ``connections - 1`` more private
    loops, each with an SSH connection of its own, so that SSH work runs on
    more than one thread for large downloads.
    """

    def __init__(
        self,
        settings: SSHSettings,
        *,
        connections: int,
        channels: int,
    ) -> None:
        self.settings = settings
        self.max_connections = connections
        self.max_channels = channels
        self.ssh: list[asyncssh.SSHClientConnection] = []
        self.channels: list[Channel] = []
        #: Further private loops (``connections - 1`` at most).
        self.lanes: list[Lane] = []
        #: The remote login folder (what relative remote paths are against).
        self.home = "/"
        self._widening = anyio.Lock()

    async def _connect(self) -> asyncssh.SSHClientConnection:
        settings = self.settings
        try:
            with anyio.fail_after(settings.connect_timeout):
                if settings.connect is not None:
                    port = settings.port if settings.port is not None else 22
                    connection = await settings.connect(settings.host, port)
                else:
                    connection = await _default_connect(settings)
        except FileNotAccessibleError:
            raise
        except Exception as exc:
            _connect_error(settings, exc)
        coalesce_writes(connection)
        self.ssh.append(connection)
        return connection

    async def _channel(self, connection: asyncssh.SSHClientConnection) -> Channel:
        sftp = await connection.start_sftp_client()
        limit = getattr(getattr(sftp, "limits", None), "max_read_len", 0) or 0
        write = getattr(getattr(sftp, "limits", None), "max_write_len", 0) or 0
        block = min(x for x in (limit, write, _DEFAULT_BLOCK) if x > 0)
        channel = Channel(sftp, block)
        self.channels.append(channel)
        return channel

    async def widen(self, wanted: int) -> None:
        """Open channels until there are ``wanted`` (at most ``channels``).

        Failing to open one more is not an error: the work goes over the
        channels there are.
        """
        wanted = min(wanted, self.max_channels)
        async with self._widening:
            while self.ssh and len(self.channels) < wanted:
                try:
                    await self._channel(self.ssh[0])
                except Exception:
                    return

    async def add_lane(self) -> Lane | None:
        """Open one more lane, if the limit allows; ``None`` if not (or if
        it fails: the work then goes over the lanes there are)."""
        if len(self.lanes) + 1 >= self.max_connections:
            return None
        bridge = Bridge()
        await bridge.start()
        settings, channels = self.settings, self.max_channels
        try:
            session = await bridge.call(
                lambda: open_session(settings, connections=1, channels=channels)
            )
        except Exception:
            await bridge.aclose()
            return None
        lane = Lane(bridge, session)
        self.lanes.append(lane)
        return lane

    async def aclose(self) -> None:
        """Close every lane, channel and connection (shielded, bounded in time)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_SECONDS):
            lanes, self.lanes = self.lanes, []
            for lane in lanes:
                with contextlib.suppress(Exception):
                    await lane.bridge.call(lane.session.aclose)
                await lane.bridge.aclose()
            for channel in self.channels:
                with contextlib.suppress(Exception):
                    channel.sftp.exit()
            for connection in self.ssh:
                connection.close()
            for connection in self.ssh:
                with contextlib.suppress(Exception):
                    await connection.wait_closed()
        self.channels.clear()
        self.ssh.clear()


async def open_session(
    settings: SSHSettings, *, connections: int, channels: int
) -> Session:
    """Connect, log in and open the first SFTP channel.

    Raises:
        FileNotAccessibleError: the server cannot be reached, refuses the
            host key check or the login, or offers no SFTP.
    """
    session = Session(settings, connections=connections, channels=channels)
    try:
        connection = await session._connect()
        try:
            channel = await session._channel(connection)
            session.home = await channel.sftp.realpath(".")
        except Exception as exc:
            raise FileNotAccessibleError(
                f"the file server {settings.where} offers no SFTP session"
                f" ({getattr(exc, 'reason', None) or exc})",
                remote_path=None,
            ) from exc
    except BaseException:
        await session.aclose()
        raise
    return session


def mode_kind(mode: int | None) -> str:
    """``"file"``, ``"folder"``, ``"link"`` or ``"other"`` for SFTP permissions."""
    if mode is None:
        return "other"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def local_umask() -> int:
    """This process's umask (read without changing it for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
