"""HTTP to SciCat: one connection pool, timeouts, retries, size limits.

Everything that talks to the network lives here; the :class:`~alink.Client`
only says which endpoint and what to do with the answer. Rules kept here:

- every request has a timeout; redirects are never followed (a redirect to
  another host would carry the token along), a 3xx is an error;
- GETs (and the login) are retried with exponential backoff on connection
  errors, timeouts and 502/503/504 — a bounded number of times; a request
  that creates something (``idempotent=False``) is retried only when it
  could not be sent at all, so a lost answer never creates a second dataset;
- a response body is streamed and reading stops past a size limit, so a
  hostile or broken server cannot exhaust memory;
- the token travels only in the ``Authorization`` header (httpx logs URLs at
  DEBUG, never headers) and is scrubbed from anything the server sends back
  before it reaches an exception message.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx
import msgspec

from .._errors import ScicatCommError
from ._token import Token

#: The running event loop's token (anyio 4.11+; without it, no check).
_current_loop = getattr(anyio.lowlevel, "current_token", None)

__all__ = [
    "HttpSession",
    "Reply",
    "RetryPolicy",
    "is_loopback_host",
    "normalize_base_url",
    "refuse_cleartext_url",
]

_log = logging.getLogger("alink.client")

#: Statuses that mean "try again later" (gateway or overload), retried for GETs.
_RETRY_STATUSES = frozenset((502, 503, 504))
#: Transport failures worth retrying: nothing usable came back.
_RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: Failures before a request was sent: safe to retry even when it creates.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: How much of an error response is read to find the server's message.
_ERROR_BODY_LIMIT = 64 * 1024
#: Chunks accepted (and dropped) after the limit while the read is cancelled.
_MAX_DROPPED_CHUNKS = 1024
#: How much of a server message an exception repeats.
_MESSAGE_LIMIT = 300

#: The sleep used between attempts; a module attribute so tests can patch it.
_sleep = anyio.sleep

#: httpx's default TLS settings (certifi's CA bundle, or ``SSL_CERT_FILE`` /
#: ``SSL_CERT_DIR``), shared by every session of the process.
_ssl_context: ssl.SSLContext | None = None
#: One certificate of a PEM bundle.
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL
)
#: Certificates loaded per call (~1 ms each on the benchmark machine).
_CERTIFICATES_PER_CALL = 8


async def _default_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process on a worker thread.

    Creating the first ``httpx.AsyncClient`` of a process blocked the event
    loop for 0.1-0.3 s: it imports httpcore (and with it trio, when that is
    installed), and every client loads a CA bundle, one C call that holds
    the GIL for 20-60 ms. Here both happen once, on a worker thread: the
    import runs Python code, so the loop's thread gets the GIL at the
    interpreter's switch interval, and certifi's bundle (httpx's default) is
    loaded a few certificates per call. An ``SSLContext`` may be shared by
    any number of connections and threads. (``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` are read when the first session sends its first
    request.)
    """
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = await anyio.to_thread.run_sync(_prepare_network)
    return _ssl_context


def _prepare_network() -> ssl.SSLContext:
    """On a worker thread: what the first ``httpx.AsyncClient`` needs."""
    importlib.import_module("alink.client._transport")  # and httpcore with it
    return _make_ssl_context()


def _make_ssl_context() -> ssl.SSLContext:
    """What ``httpx.create_ssl_context()`` makes, in short GIL-holding calls."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return httpx.create_ssl_context()  # the caller's choice, as httpx reads it
    import certifi

    with open(certifi.where(), encoding="utf-8") as bundle:
        pem = bundle.read()
    certificates = _PEM_CERTIFICATE.findall(pem)
    if not certificates or pem.count("-----BEGIN ") != len(certificates):
        return httpx.create_ssl_context()  # not plain certificates: let OpenSSL read it
    step = _CERTIFICATES_PER_CALL
    context = ssl.create_default_context(cadata="\n".join(certificates[:step]))
    for start in range(step, len(certificates), step):
        context.load_verify_locations(
            cadata="\n".join(certificates[start : start + step])
        )
    return context


def _path_segment(text: str) -> str:
    """``text`` (a PID, a datablock id) as one URL path segment for SciCat.

    SciCat (NestJS on Express) decodes a path parameter with JavaScript's
    ``decodeURIComponent``, which undoes ``%XX`` escapes and nothing else:
    a ``+`` stays a ``+``. So every character but the unreserved ones
    (letters, digits, ``-._~``) is percent-escaped as UTF-8: a space as
    ``%20`` (``quote_plus`` sends ``+``, which names another PID or none),
    ``/`` as ``%2F`` (a PID's prefix stays inside the one parameter), and
    ``%``, ``#``, ``?`` and ``&`` so they neither escape nor end the path.
    A segment ``.`` or ``..`` is escaped as ``%2E`` too: URL normalisation
    (httpx's included) removes dot segments, which would send the request
    to another endpoint. Every ``text`` round-trips through
    ``decodeURIComponent``.

    Raises:
        ValueError: ``text`` is empty (the path would name another endpoint).
    """
    if not text:
        raise ValueError("an empty path segment names no resource")
    segment = quote(text, safe="")
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return segment


def normalize_base_url(url: str) -> str:
    """The SciCat API base URL, ending in ``/api`` without a trailing slash.

    ``http://host``, ``http://host/api``, ``http://host/api/`` and
    ``http://host/api/v3`` all give ``http://host/api``.

    Raises:
        TypeError: ``url`` is not a string.
        ValueError: not an absolute http(s) URL, or it carries credentials,
            a query or a fragment.
    """
    if not isinstance(url, str):
        raise TypeError(f"the SciCat URL must be a string, got {type(url).__name__}")
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            "the SciCat URL must be an absolute http:// or https:// URL with a host"
        )
    if parsed.userinfo:
        # Never echo the URL here: it holds a password.
        raise ValueError(
            "the SciCat URL must not contain a user name or password; use"
            " Client.from_credentials(username=..., password=...)"
        )
    if parsed.query or parsed.fragment:
        raise ValueError("the SciCat URL must not have a query or fragment")
    path = parsed.path.rstrip("/")
    for suffix in ("/v3", "/v4"):
        if path.endswith("/api" + suffix):
            path = path.removesuffix(suffix)
    if not path.endswith("/api"):
        path += "/api"
    return str(parsed.copy_with(path=path))


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost``, 127.0.0.0/8 or ::1.

    Traffic to such a host never leaves the machine, so plain HTTP to it
    exposes no secret on a network (a local SciCat or a test double).
    """
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refuse_cleartext_url(url: str, *, allow_http: bool) -> None:
    """Refuse a plain ``http://`` SciCat URL unless it is allowed.

    Every request carries the token (and a login the password), which
    would travel unencrypted, readable by anyone on the way. Allowed are
    ``https://``, loopback hosts (see :func:`is_loopback_host`) and any
    ``http://`` when ``allow_http`` is true (a network the caller trusts).

    Raises:
        TypeError: ``allow_http`` is not a bool.
        ValueError: an ``http://`` URL to another host without
            ``allow_http``.
    """
    if not isinstance(allow_http, bool):
        raise TypeError(f"allow_http must be a bool, got {type(allow_http).__name__}")
    parsed = httpx.URL(url)
    if parsed.scheme != "http" or allow_http or is_loopback_host(parsed.host):
        return
    raise ValueError(
        f"refusing the plain http:// SciCat URL of host {parsed.host!r}: requests,"
        " with the token or password, would travel unencrypted; use https://,"
        " or pass allow_http=True if you trust the network"
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried.

    Attributes:
        attempts: Total tries per request (1 = no retry).
        backoff: Delay before the first retry in seconds; doubled each time.
        max_backoff: Upper bound of a single delay (also caps ``Retry-After``).
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise TypeError("retry attempts must be an integer")
        if self.attempts < 1:
            raise ValueError("retry attempts must be at least 1")
        if not (0 <= self.backoff <= self.max_backoff):
            raise ValueError("need 0 <= backoff <= max_backoff")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        delay = self.backoff * (2.0**retry)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(self.max_backoff, delay)


def _check_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        if None in (timeout.connect, timeout.read, timeout.write, timeout.pool):
            raise ValueError(
                "every request needs a timeout: set connect, read, write and pool"
            )
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError("timeout must be a number of seconds or an httpx.Timeout")
    if not timeout > 0:
        raise ValueError("timeout must be positive")
    return httpx.Timeout(float(timeout))


@dataclass(frozen=True, slots=True)
class Reply:
    """A finished response: status, the headers we need, and the (bounded) body."""

    status_code: int
    body: bytearray
    location: str | None = None

    def server_message(self, token: Token | None) -> str:
        """The server's ``message`` (NestJS error shape) or a short body excerpt."""
        text = _extract_message(self.body)
        if token is not None:
            text = token.scrub(text)
        if len(text) > _MESSAGE_LIMIT:
            text = text[:_MESSAGE_LIMIT] + "..."
        return text


def _extract_message(body: bytearray) -> str:
    if not body or body.isspace():
        return ""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:_MESSAGE_LIMIT].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, list):  # e.g. every failed validation rule
            more = f"; and {len(message) - 5} more" if len(message) > 5 else ""
            message = "; ".join(str(m) for m in message[:5]) + more
        if isinstance(message, str) and message:
            return message
        error = data.get("error")
        if isinstance(error, str):
            return error
    return body[:_MESSAGE_LIMIT].decode("utf-8", "replace").strip()


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    return None


class HttpSession:
    """One ``httpx.AsyncClient`` (so connections are reused) plus our rules.

    Args:
        base_url: Normalised base URL (see :func:`normalize_base_url`).
        timeout: Seconds, or an ``httpx.Timeout`` with every part set.
        retry: Retry policy for transient failures.
        max_response_size: Largest response body read, in bytes.
        transport: An httpx transport to use instead of the network (tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy,
        max_response_size: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if isinstance(max_response_size, bool) or not isinstance(
            max_response_size, int
        ):
            raise TypeError("max_response_size must be an integer number of bytes")
        if max_response_size < 1:
            raise ValueError("max_response_size must be positive")
        if not isinstance(retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        self.base_url = base_url
        self.retry = retry
        self.max_response_size = max_response_size
        self._timeout = _check_timeout(timeout)
        self._transport = transport
        # Made at the first request, in async code: see _default_ssl_context.
        self._client: httpx.AsyncClient | None = None
        #: The event loop the httpx client was made in (its connections
        #: belong to it), where anyio can say.
        self._loop: object = None
        self._closed = False

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def __reduce__(self) -> tuple[Any, ...]:
        # Connections cannot travel, and a pickled session would carry the
        # client's credentials along (the httpx client, made at the first
        # request, cannot be pickled either).
        raise TypeError("a SciCat client's HTTP session cannot be pickled")

    async def aclose(self) -> None:
        """Close the connection pool.

        From another event loop than the one it was used in (a later
        ``anyio.run``), its connections died with their loop: they are
        dropped, not closed.
        """
        self._closed = True
        client, self._client = self._client, None
        if client is not None and not self._elsewhere():
            await client.aclose()

    def _elsewhere(self) -> bool:
        """Whether this runs in another event loop than the connections'."""
        return _current_loop is not None and self._loop != _current_loop()

    async def _http(self) -> httpx.AsyncClient:
        """The ``httpx.AsyncClient``, made on first use without blocking the
        event loop (its TLS context is made on a worker thread, once).

        Raises:
            RuntimeError: the client is closed, or was used in another
                event loop (its connections belong to that one).
        """
        if self._client is not None and self._elsewhere():
            raise RuntimeError(
                "this Client was used in another event loop (an earlier"
                " anyio.run or asyncio.run), whose connections cannot serve"
                " this one: make a Client in each run, e.g. with"
                " `async with Client.from_token(...) as client:` inside the"
                " function the run calls"
            )
        if self._client is None:
            verify: ssl.SSLContext | bool = True
            if self._transport is None:
                verify = await _default_ssl_context()
            if self._closed:
                raise RuntimeError("this Client is closed")
            if self._client is None:  # no other task made it meanwhile
                transport = self._transport
                if transport is None:
                    from ._transport import Transport  # imported by then

                    assert isinstance(verify, ssl.SSLContext)
                    transport = Transport(verify)
                if _current_loop is not None:
                    self._loop = _current_loop()
                self._client = httpx.AsyncClient(
                    verify=verify,
                    timeout=self._timeout,
                    follow_redirects=False,
                    transport=transport,
                    headers={"Accept": "application/json"},
                )
        return self._client

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        token: Token | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        idempotent: bool = True,
    ) -> Reply:
        """Send a request to ``base_url/path`` and read the answer (bounded).

        ``json`` is encoded by httpx; ``content`` is a body already encoded as
        JSON. Transient failures are retried according to :attr:`retry`;
        with ``idempotent=False`` (a request that creates something) only
        failures to connect are, because the server may have acted on a
        request whose answer was lost. A 2xx body
        larger than :attr:`max_response_size` raises; an error body is read
        only as far as needed for the server's message; a 3xx is refused.
        ``what`` names the request in messages ("dataset 'abc'").

        Raises:
            ScicatCommError: the server could not be reached, kept failing,
                redirected, or sent too much.
        """
        if self._closed:
            raise RuntimeError("this Client is closed")
        client = await self._http()
        url = f"{self.base_url}/{path}"
        headers = {"Authorization": token.authorization()} if token else {}
        if content is not None:
            headers["Content-Type"] = "application/json"
        retry_statuses = _RETRY_STATUSES if idempotent else frozenset()
        retry_errors = _RETRY_ERRORS if idempotent else _NOT_SENT_ERRORS
        attempts = self.retry.attempts
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            _log.debug("%s %s (attempt %d of %d)", method, url, attempt + 1, attempts)
            try:
                async with client.stream(
                    method,
                    url,
                    params=params,
                    headers=headers,
                    json=json,
                    content=content,
                ) as response:
                    status = response.status_code
                    if status in retry_statuses and not last:
                        delay = self.retry.delay(
                            attempt, _retry_after(response.headers)
                        )
                        cause = f"HTTP {status}"
                    else:
                        return await self._finish(response, what)
            except retry_errors as exc:
                if last:
                    raise ScicatCommError(
                        f"could not get {what} from SciCat at {self.base_url}"
                        f" after {attempts} attempt(s): {_describe(exc, token)}"
                    ) from None
                delay = self.retry.delay(attempt)
                cause = type(exc).__name__
            except httpx.HTTPError as exc:
                raise ScicatCommError(
                    f"could not get {what} from SciCat at {self.base_url}:"
                    f" {_describe(exc, token)}"
                ) from None
            _log.debug("%s for %s; retrying in %.2f s", cause, url, delay)
            await _sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _finish(self, response: httpx.Response, what: str) -> Reply:
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location")
            raise ScicatCommError(
                f"SciCat answered {what} with a redirect ({status}) to"
                f" {location!r}; redirects are not followed so that the token is"
                " never sent elsewhere: use the final URL as the client's URL",
                status_code=status,
            )
        limit = self.max_response_size if status < 400 else _ERROR_BODY_LIMIT
        length = response.headers.get("content-length", "")
        if status < 400 and length.isdigit() and int(length) > limit:
            raise _too_large(what, limit, status)
        body, overflow = await _read_body(response, limit)
        if overflow and status < 400:
            raise _too_large(what, limit, status)
        return Reply(status, body, response.headers.get("location"))


async def _read_body(response: httpx.Response, limit: int) -> tuple[bytearray, bool]:
    """Read at most ``limit`` bytes (plus one chunk); say whether there was more.

    Stopping early must not abandon httpx's chain of async generators half-way
    (trio warns about each one, and they would be closed late by the garbage
    collector). So past the limit the read is *cancelled*: the cancellation
    arrives at the transport's next network read, deep in the chain, and
    unwinds every generator properly. Chunks that arrive before that are
    dropped.
    """
    body = bytearray()
    overflow = False
    dropped = 0
    with anyio.CancelScope() as scope:
        async for chunk in response.aiter_bytes():
            if overflow:
                dropped += 1
                if dropped > _MAX_DROPPED_CHUNKS:
                    break  # a stream that never waits: give up cleanly enough
                continue
            body += chunk
            if len(body) > limit:
                overflow = True
                del body[limit:]
                scope.cancel()
    return body, overflow


def _too_large(what: str, limit: int, status: int) -> ScicatCommError:
    return ScicatCommError(
        f"SciCat's answer for {what} is larger than the limit of {limit} bytes;"
        " reading stopped (raise max_response_size if the dataset is really"
        " this big)",
        status_code=status,
    )


def _describe(exc: BaseException, token: Token | None) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return token.scrub(text) if token is not None else text
