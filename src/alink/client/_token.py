"""The SciCat access token: kept out of reprs, logs and messages; expiry known.

SciCat tokens are JWTs. Their payload is read (never verified: that is the
server's job) only for the ``exp`` claim, so that an expired token fails
clearly before a request is sent instead of as an anonymous 403 from the
server. Tokens that are not JWTs are accepted with an unknown expiry.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import UTC, datetime

from .._errors import ScicatLoginError

__all__ = ["Token", "jwt_expiry"]

#: The wall clock used for expiry checks; a module attribute so tests can patch it.
_now = time.time


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim (seconds since the epoch) of a JWT, or ``None``.

    ``None`` when the token is not a JWT or has no numeric ``exp``.
    """
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def _format_epoch(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f} s after the epoch"


class Token:
    """A bearer token that never shows its value in ``repr``/``str``."""

    __slots__ = ("_expires_at", "_value")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a token must be a string, got {type(value).__name__}")
        value = value.strip()
        head, _, rest = value.partition(" ")
        if head.lower() == "bearer":
            value = rest.strip()  # pasted with its header prefix
        if not value:
            raise ValueError("the token is empty")
        if any(c in value for c in "\r\n\x00"):
            raise ValueError("the token contains line breaks or NUL characters")
        self._value = value
        self._expires_at = jwt_expiry(value)

    @property
    def expires_at(self) -> float | None:
        """When the token expires (seconds since the epoch), if known."""
        return self._expires_at

    def check_not_expired(self, now: float | None = None) -> None:
        """Raise :class:`~alink.ScicatLoginError` if the token has expired."""
        if self._expires_at is None:
            return
        if (_now() if now is None else now) >= self._expires_at:
            # Scitacean's wording first: code ported from it may match on it.
            raise ScicatLoginError(
                "SciCat login has expired: the token expired at"
                f" {_format_epoch(self._expires_at)}; log in again or get a new"
                " token"
            )

    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"Bearer {self._value}"

    def __repr__(self) -> str:
        return "Token(<hidden>)"

    __str__ = __repr__

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the token replaced by ``<token>``.

        For text that came from elsewhere (a server's error message could echo
        the request's headers back).
        """
        return text.replace(self._value, "<token>") if self._value in text else text
