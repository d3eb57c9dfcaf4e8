"""The HS256 JWT helper: round trip, and every way a token must be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from alink.testing import _jwt

SECRET = b"s3cret"
NOW = 1_700_000_000.0


def _segment(value: object) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed(header: object, payload: object, secret: bytes = SECRET) -> str:
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    mac = hmac.digest(secret, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_round_trip_and_standard_format() -> None:
    token = _jwt.encode({"username": "u", "exp": NOW + 60}, SECRET)
    header_b64 = token.split(".")[0]
    assert "=" not in token  # unpadded base64url, as SciCat's tokens
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    # Independently computed signature (what any JWT library would check).
    assert token == _signed(header, {"username": "u", "exp": NOW + 60})
    assert _jwt.decode(token, SECRET, now=NOW) == {"username": "u", "exp": NOW + 60}


def test_expired_token_is_refused() -> None:
    token = _jwt.encode({"exp": NOW}, SECRET)
    with pytest.raises(ValueError, match="expired"):
        _jwt.decode(token, SECRET, now=NOW)
    assert _jwt.decode(token, SECRET, now=NOW - 1)["exp"] == NOW


def test_wrong_secret_is_refused() -> None:
    token = _jwt.encode({"exp": NOW + 60}, b"other")
    with pytest.raises(ValueError, match="signature"):
        _jwt.decode(token, SECRET, now=NOW)


def test_tampered_payload_is_refused() -> None:
    token = _jwt.encode({"username": "user2", "exp": NOW + 60}, SECRET)
    header, _, sig = token.split(".")
    forged = f"{header}.{_segment({'username': 'admin', 'exp': NOW + 60})}.{sig}"
    with pytest.raises(ValueError, match="signature"):
        _jwt.decode(forged, SECRET, now=NOW)


def test_alg_none_is_refused() -> None:
    unsigned = f"{_segment({'alg': 'none'})}.{_segment({'exp': NOW + 60})}."
    with pytest.raises(ValueError, match="segment"):
        _jwt.decode(unsigned, SECRET, now=NOW)
    # Even correctly signed, a header that is not HS256 is refused.
    other_alg = _signed({"alg": "HS512"}, {"exp": NOW + 60})
    with pytest.raises(ValueError, match="HS256"):
        _jwt.decode(other_alg, SECRET, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [{}, {"exp": "tomorrow"}, {"exp": True}, {"exp": None}, ["exp"]],
    ids=["missing", "string", "bool", "null", "not-an-object"],
)
def test_payload_without_numeric_exp_is_refused(payload: object) -> None:
    with pytest.raises(ValueError, match=r"'exp'|JSON object"):
        _jwt.decode(_signed({"alg": "HS256"}, payload), SECRET, now=NOW)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "###.###.###", "é.é.é"],
)
def test_malformed_tokens_are_refused_without_echoing_them(token: str) -> None:
    with pytest.raises(ValueError, match=r"segment|signature") as info:
        _jwt.decode(token, SECRET, now=NOW)
    if token:
        assert token not in str(info.value)


def test_signed_garbage_segments_are_refused() -> None:
    signing_input = "bm90IGpzb24.bm90IGpzb24"  # base64url of "not json"
    mac = hmac.digest(SECRET, signing_input.encode(), hashlib.sha256)
    sig = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    with pytest.raises(ValueError, match="JSON"):
        _jwt.decode(f"{signing_input}.{sig}", SECRET, now=NOW)
