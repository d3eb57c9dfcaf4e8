"""How the command logs in to SciCat: a token from the environment (or from
where the ``--profile`` says it is), a user name and password, or no login at
all (``--public``).

Everything here is decided before the event loop starts (the password prompt
is synchronous), so a missing token is a usage error that touches nothing.
The token and the password are kept out of every repr and message.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import click
import httpx

from .._errors import ProfileError
from ..client import Client, Profile, RetryPolicy
from ..client._http import is_loopback_host
from ..transfer.copy import CopyFileTransfer
from ..transfer.link import LinkFileTransfer
from ..transfer.select import SelectFileTransfer
from ..transfer.sftp import SFTPFileTransfer
from ._exit import ExitCode
from ._run import fail

__all__ = ["Login", "Transfer", "check_url", "connect", "resolve_login"]

#: The transfers the command line can use.
Transfer = LinkFileTransfer | CopyFileTransfer | SelectFileTransfer | SFTPFileTransfer

#: Where ``--username`` reads the password from before asking for it.
PASSWORD_ENV = "SCICAT_PASSWORD"


@dataclass(frozen=True, slots=True)
class Login:
    """The server and how to log in to it; secrets never appear in the repr."""

    url: str
    timeout: float
    retries: int
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_http: bool = False

    @property
    def public(self) -> bool:
        """Whether requests go without a login (published datasets only)."""
        return self.token is None and self.username is None


def check_url(url: str, *, allow_http: bool = False) -> str:
    """``url`` if it is an absolute http(s) URL without credentials; else exit 2.

    Plain ``http://`` to a host other than this machine is refused unless
    ``allow_http`` (``--allow-http``): the token or password would cross
    the network unencrypted.
    """
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        fail(f"--url: not a valid URL ({exc})")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        fail(f"--url: expected an http:// or https:// URL with a host, got {url!r}")
    if parsed.userinfo:
        fail(
            "--url must not contain a user name or password; use --username or"
            " a token in the environment"
        )
    if parsed.query or parsed.fragment:
        fail(f"--url must not have a query or fragment, got {url!r}")
    if parsed.scheme == "http" and not allow_http and not is_loopback_host(parsed.host):
        fail(
            f"--url: refusing plain http:// to {parsed.host!r}: the token or password"
            " would travel unencrypted; use https://, or pass --allow-http if you"
            " trust the network"
        )
    return url.strip()


def _has_terminal() -> bool:
    """Whether a password can be asked for (stdin is a terminal)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False


def _ask_password(username: str) -> str:
    """The password, typed on the terminal (not echoed).

    Ctrl-C or SIGTERM there interrupts the command like any other
    interruption (``click.Abort``: one line, exit 130), while end of input
    (Ctrl-D) is a missing password (exit 2). click turns both into the same
    ``Abort``, so for the prompt's duration both signals go to a handler that
    notes which it was and stops the reading as Ctrl-C does; getpass then
    puts the terminal's echo back (SIGTERM's default would kill the process
    with echo off).
    """
    interrupted = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    with _signals_to(on_signal):
        try:
            password: str = click.prompt(
                f"SciCat password for {username}", hide_input=True, err=True
            )
        except click.Abort:
            if interrupted:
                raise
            fail(
                f"no password for {username!r}: type it when asked, or set"
                f" {PASSWORD_ENV}"
            )
    return password


@contextmanager
def _signals_to(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """SIGINT and SIGTERM go to ``handler`` inside (main thread only; a
    signal someone set to be ignored stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved: list[tuple[signal.Signals, Any]] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if previous is not signal.SIG_IGN and previous is not None:
            saved.append((sig, signal.signal(sig, handler)))
    try:
        yield
    finally:
        for sig, handler_before in saved:
            signal.signal(sig, handler_before)


def resolve_login(
    *,
    url: str | None,
    token_env: str,
    token_env_given: bool,
    username: str | None,
    public: bool,
    timeout: float,
    retries: int,
    profile: Profile | None = None,
    allow_http: bool = False,
) -> Login:
    """Decide how to log in; prompts for a password when one is needed.

    ``url`` (``None``: the profile's) wins over the profile; the profile's
    token (its ``token_env`` or ``token_file``) is used unless ``--token-env``,
    ``--username`` or ``--public`` say otherwise.

    Exits with code 2 (one line, nothing touched) when the choice is
    contradictory or the token / password is missing.
    """
    if url is None:
        if profile is None:
            raise click.UsageError(
                "Missing option '--url' (or set SCICAT_URL, or name a profile:"
                " alink --profile NAME ...)",
                ctx=click.get_current_context(silent=True),
            )
        url = profile.url
        # The profile vouches for its own URL's network, not for --url's.
        allow_http = allow_http or profile.allow_http
    url = check_url(url, allow_http=allow_http)
    login = functools.partial(
        Login, url=url, timeout=timeout, retries=retries, allow_http=allow_http
    )
    if public and username is not None:
        fail("--public and --username exclude each other")
    if public and token_env_given:
        fail("--public and --token-env exclude each other")
    if username is not None and token_env_given:
        fail("--username and --token-env exclude each other")
    if public:
        return login()
    if username is not None:
        if not username.strip():
            fail("--username must not be empty")
        password = os.environ.get(PASSWORD_ENV)
        if not password and not _has_terminal():
            # getpass would read the password in the clear from stdin, after
            # a GetPassWarning; there is nobody to ask.
            fail(
                f"no password for {username!r}: there is no terminal to ask for"
                f" it; set {PASSWORD_ENV}"
            )
        if not password:
            password = _ask_password(username)
        return login(username=username, password=password)
    if profile is not None and profile.has_token and not token_env_given:
        try:
            token = profile.read_token()
        except ProfileError as exc:
            fail(str(exc))
        return login(token=token)
    if not token_env.strip() or "=" in token_env:
        fail(f"--token-env: not an environment variable name: {token_env!r}")
    token = os.environ.get(token_env, "").strip()
    if not token:
        fail(
            f"no SciCat token: the environment variable {token_env} is not set or"
            " empty; set it to your token, or use --username USER (password"
            f" prompt or {PASSWORD_ENV}) or --public",
            ExitCode.USAGE,
        )
    return login(token=token)


@asynccontextmanager
async def connect(
    login: Login, file_transfer: Transfer | None = None
) -> AsyncIterator[Client]:
    """An open :class:`~alink.Client` for ``login``; closed on exit."""
    retry = RetryPolicy(attempts=login.retries + 1)
    if login.token is not None:
        client = Client.from_token(
            url=login.url,
            token=login.token,
            file_transfer=file_transfer,
            allow_http=login.allow_http,
            timeout=login.timeout,
            retry=retry,
        )
    elif login.username is not None:
        client = await Client.from_credentials(
            url=login.url,
            username=login.username,
            password=login.password or "",
            file_transfer=file_transfer,
            allow_http=login.allow_http,
            timeout=login.timeout,
            retry=retry,
        )
    else:
        client = Client.without_login(
            url=login.url,
            file_transfer=file_transfer,
            allow_http=login.allow_http,
            timeout=login.timeout,
            retry=retry,
        )
    async with client:
        yield client
