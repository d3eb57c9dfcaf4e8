"""Fewer system calls on the wire: the SSH packets of one loop turn, sent at once.

asyncssh hands every SSH packet to its transport as soon as it is made, and
asyncio's transport sends each with a ``send()`` of its own. Pipelining SFTP
means hundreds of small requests per loop turn; on the measured loopback
set-up every ``send()`` cost tens of microseconds (the kernel delivers the
segment and wakes the server right away, ``TCP_NODELAY``), a fifth of the
CPU of downloading many small files. Collecting the packets of one turn and
sending them together cut that to one ``send()`` per turn. (Letting the
kernel do it with Nagle's algorithm instead made every round trip wait for a
delayed acknowledgement: 45 ms.)

This module is the one place alink touches asyncssh's internals: it wraps
the connection's transport. The private loop is always asyncio (asyncssh
runs on nothing else), hence the direct use of asyncio here. Where the
transport is not what this expects, nothing is changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["coalesce_writes"]


class _Coalescing(asyncio.Transport):
    """A transport whose writes of one loop turn leave in one ``write``."""

    def __init__(
        self, inner: asyncio.Transport, call_soon: Callable[[Callable[[], None]], Any]
    ) -> None:
        super().__init__()
        self._inner = inner
        self._call_soon = call_soon
        self._parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._parts:
            self._call_soon(self._flush)
        self._parts.append(bytes(data))

    def writelines(
        self, list_of_data: Iterable[bytes | bytearray | memoryview]
    ) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self._inner.is_closing():
            self._inner.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._parts = []
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(map(len, self._parts))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(
        self, high: int | None = None, low: int | None = None
    ) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()


def coalesce_writes(connection: object) -> bool:
    """Make ``connection`` (an asyncssh connection, on the running asyncio loop)
    send the packets of one loop turn together. Whether it could."""
    transport = getattr(connection, "_transport", None)
    if isinstance(transport, _Coalescing):
        return True
    if not isinstance(transport, asyncio.Transport) or transport.is_closing():
        return False
    loop = asyncio.get_running_loop()
    connection._transport = _Coalescing(transport, loop.call_soon)  # type: ignore[attr-defined]
    return True
