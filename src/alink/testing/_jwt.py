"""Minimal HS256 JSON Web Tokens (RFC 7519) for the fake SciCat server.

Only what a SciCat backend double needs: mint a signed token and check one
(signature, algorithm, ``exp``). Standard library only, so ``alink.testing``
adds no dependency.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["decode", "encode"]

_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64encode(data: bytes) -> str:
    # JWTs use unpadded base64url (RFC 7515 §2).
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_segment(payload: Mapping[str, Any]) -> str:
    return _b64encode(json.dumps(payload, separators=(",", ":")).encode())


def _sign(signing_input: str, secret: bytes) -> str:
    return _b64encode(hmac.digest(secret, signing_input.encode("ascii"), "sha256"))


def encode(payload: Mapping[str, Any], secret: bytes) -> str:
    """Sign ``payload`` with HMAC-SHA256 and return the compact JWT."""
    signing_input = f"{_json_segment(_HEADER)}.{_json_segment(payload)}"
    return f"{signing_input}.{_sign(signing_input, secret)}"


def decode(token: str, secret: bytes, *, now: float) -> dict[str, Any]:
    """Verify ``token`` and return its payload.

    Raises ``ValueError`` (with a message that never contains the token) when
    the token is malformed, not HS256, wrongly signed, has no numeric ``exp``
    or has expired at ``now`` (seconds since the epoch).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot-separated segments")
    if not all(part and _B64URL.issuperset(part) for part in parts):
        raise ValueError("token segment is not base64url")
    header_b64, payload_b64, signature = parts
    expected = _sign(f"{header_b64}.{payload_b64}", secret)
    # Compare the signature first and in constant time; only then parse.
    if not hmac.compare_digest(expected, signature):
        raise ValueError("bad token signature")
    try:
        header = json.loads(_b64decode(header_b64))
        payload = json.loads(_b64decode(payload_b64))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("token segments are not base64url JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise ValueError("token algorithm is not HS256")
    if not isinstance(payload, dict):
        raise ValueError("token payload is not a JSON object")
    exp = payload.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise ValueError("token has no numeric 'exp' claim")
    if exp <= now:
        raise ValueError("token has expired")
    return payload
