"""Fault injection for the fake SciCat server, so client retry paths are testable.

Faults are armed from the test (any thread) and consumed by the server's
request threads, in the order they were armed. Each can be limited to
requests whose method and/or path match.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from typing import Literal

__all__ = ["Fault", "Faults"]

Kind = Literal["fail", "drop", "raw"]


@dataclasses.dataclass(slots=True)
class _Matcher:
    method: str | None
    pattern: re.Pattern[str] | None

    def __call__(self, method: str, path: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        return self.pattern is None or self.pattern.search(path) is not None


@dataclasses.dataclass(frozen=True, slots=True)
class Fault:
    """What the server must do instead of answering a request normally."""

    kind: Kind
    status: int = 0
    body: bytes = b""
    content_type: str | None = None
    message: str | None = None


@dataclasses.dataclass(slots=True)
class _Armed:
    fault: Fault
    remaining: int
    matches: _Matcher
    skip: int = 0


@dataclasses.dataclass(slots=True)
class _Delay:
    seconds: float
    remaining: float  # math.inf: until cleared
    matches: _Matcher


def _matcher(method: str | None, match: str | re.Pattern[str] | None) -> _Matcher:
    if method is not None and not isinstance(method, str):
        raise ValueError(f"method must be a string such as 'GET', got {method!r}")
    if match is None or isinstance(match, re.Pattern):
        pattern = match
    elif isinstance(match, str):
        pattern = re.compile(re.escape(match))
    else:
        raise ValueError(
            f"match must be a substring or a compiled pattern, got {match!r}"
        )
    return _Matcher(method.upper() if method else None, pattern)


def _skip(skip: int) -> int:
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise ValueError(f"skip must be a non-negative integer, got {skip!r}")
    return skip


def _count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return n


def _status(status: int) -> int:
    if isinstance(status, bool) or not isinstance(status, int):
        raise ValueError(f"status must be an int, got {status!r}")
    if not 200 <= status <= 599:
        raise ValueError(f"status must be in 200..599, got {status}")
    return status


class Faults:
    """Faults to inject into the next requests of a :class:`ScicatServer`.

    ``match`` limits a fault to requests whose raw path (percent-encoded, no
    query) contains that substring, or matches that compiled pattern
    (``re.search``); ``method`` to one HTTP method. One-shot faults are used
    in the order they were armed; every delay that matches a request adds up.
    ``skip`` lets that many matching requests through first (to fail, say,
    the second datablock of an upload).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._delays: list[_Delay] = []

    def __repr__(self) -> str:
        return f"Faults(pending={self.pending}, delays={len(self._delays)})"

    def _arm(
        self,
        fault: Fault,
        n: int,
        method: str | None,
        match: str | re.Pattern[str] | None,
        skip: int = 0,
    ) -> None:
        armed = _Armed(fault, _count(n), _matcher(method, match), _skip(skip))
        with self._lock:
            self._armed.append(armed)

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        message: str | None = None,
        method: str | None = None,
        match: str | re.Pattern[str] | None = None,
        skip: int = 0,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` and a NestJS body."""
        fault = Fault("fail", _status(status), message=message)
        self._arm(fault, n, method, match, skip)

    def drop_next(
        self,
        n: int = 1,
        *,
        method: str | None = None,
        match: str | re.Pattern[str] | None = None,
        skip: int = 0,
    ) -> None:
        """Close the next ``n`` matching requests' connections without an answer."""
        self._arm(Fault("drop"), n, method, match, skip)

    def respond_raw(
        self,
        body: bytes | str,
        *,
        status: int = 200,
        n: int = 1,
        content_type: str | None = "application/json; charset=utf-8",
        method: str | None = None,
        match: str | re.Pattern[str] | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with exactly ``body``.

        For malformed JSON, truncated answers, wrong content types, ...
        """
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes):
            raise ValueError(f"body must be bytes or str, got {type(body).__name__}")
        fault = Fault("raw", _status(status), body=body, content_type=content_type)
        self._arm(fault, n, method, match)

    def delay(
        self,
        seconds: float,
        *,
        n: int | None = None,
        method: str | None = None,
        match: str | re.Pattern[str] | None = None,
    ) -> None:
        """Wait ``seconds`` before handling each matching request.

        ``n=None`` delays every matching request until :meth:`clear`; else the
        next ``n``. Stopping the server cuts a delay short (the request is then
        dropped).
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError(f"seconds must be a number, got {seconds!r}")
        if not 0 <= seconds < math.inf:
            raise ValueError(f"seconds must be finite and >= 0, got {seconds}")
        remaining = math.inf if n is None else _count(n)
        with self._lock:
            self._delays.append(
                _Delay(float(seconds), remaining, _matcher(method, match))
            )

    def clear(self) -> None:
        """Disarm every fault and delay."""
        with self._lock:
            self._armed.clear()
            self._delays.clear()

    @property
    def pending(self) -> int:
        """How many one-shot faults (fail, drop, raw) are still armed."""
        with self._lock:
            return sum(a.remaining for a in self._armed)

    @property
    def active_delays(self) -> int:
        """How many delay rules are armed (a used-up ``n``-limited one is gone)."""
        with self._lock:
            return len(self._delays)

    def _take(self, method: str, path: str) -> tuple[float, Fault | None]:
        """Consume what applies to this request: (total delay, fault or ``None``)."""
        with self._lock:
            delay = 0.0
            for d in self._delays:
                if d.matches(method, path):
                    delay += d.seconds
                    d.remaining -= 1
            self._delays = [d for d in self._delays if d.remaining > 0]
            for armed in self._armed:
                if armed.matches(method, path):
                    if armed.skip:
                        armed.skip -= 1
                        continue
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                    return delay, armed.fault
            return delay, None
