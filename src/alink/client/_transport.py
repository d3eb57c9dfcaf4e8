"""httpx's transport with large reads from the network.

httpcore reads a response 64 KiB at a time, and each read costs some 30 µs of
Python on the event loop (httpcore, h11, anyio): ~9 ms for a 19 MB dataset.
Here the same pool reads up to 1 MiB per call (imported on a worker thread
with httpcore, when a process sends its first request: see ``_http``).
"""

# The methods have httpcore's signatures, ``timeout`` parameters included.
# ruff: noqa: ASYNC109

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["Transport"]

#: Bytes httpcore may read per call from a connection (it asks for 64 KiB):
#: a 19 MB dataset in ~20 reads instead of ~300, each of which costs some
#: 30 µs of Python on the event loop (httpcore, h11, anyio).
_READ_BYTES = 1 << 20


class _LargeReadStream(httpcore.AsyncNetworkStream):
    """A connection whose reads return up to :data:`_READ_BYTES` at once."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max(max_bytes, _READ_BYTES), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _LargeReadStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _LargeReads(httpcore.AsyncNetworkBackend):
    """httpcore's anyio network (asyncio and trio), with large reads."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(
            host,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        return _LargeReadStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _LargeReadStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class Transport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connection pool reading large chunks.

    httpx has no option for httpcore's network backend, so the pool it made
    is replaced by the same pool on :class:`_LargeReads` (httpx's default
    limits; HTTP/1.1). Proxies from the environment are mounted by the
    ``httpx.AsyncClient`` itself, with httpx's own transports.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_LargeReads(),
        )
