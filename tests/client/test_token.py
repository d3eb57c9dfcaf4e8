"""The token: expiry read from the JWT, and never shown in messages, logs or reprs."""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from alink import Client, ScicatCommError, ScicatLoginError
from alink.client import RetryPolicy, _token
from alink.client._token import Token, jwt_expiry

pytestmark = pytest.mark.anyio

URL = "https://scicat.test"
RAW = json.loads((Path(__file__).parent / "data" / "dataset-raw.v4.json").read_text())
EXAMPLE_TOKEN = json.loads(
    (Path(__file__).parent / "data" / "login-response.json").read_text()
)["access_token"]


def test_jwt_expiry_is_read_without_verification(jwt: Callable[..., str]) -> None:
    assert jwt_expiry(jwt(1234567890.5)) == 1234567890.5
    assert jwt_expiry(jwt(None)) is None
    # The example token from SciCat's login response expired 2025-01-01T11:00Z.
    assert jwt_expiry(EXAMPLE_TOKEN) == 1735729200


@pytest.mark.parametrize(
    "text",
    ["opaque-api-key", "a.b", "a.!!!.c", "a.bnVsbA.c", "x.eyJleHAiOiAibm93In0.y"],
)
def test_tokens_that_are_not_jwts_have_no_known_expiry(text: str) -> None:
    assert jwt_expiry(text) is None
    Token(text).check_not_expired()


def test_pasted_header_prefix_is_dropped() -> None:
    assert Token("Bearer abc.def").authorization() == "Bearer abc.def"
    assert Token("  bearer xyz ").authorization() == "Bearer xyz"


def test_bad_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Token("  ")
    with pytest.raises(ValueError, match="empty"):
        Token("Bearer ")
    with pytest.raises(ValueError, match="line breaks"):
        Token("abc\r\nX-Evil: 1")
    with pytest.raises(TypeError):
        Token(None)  # type: ignore[arg-type]


def test_expired_token_is_refused_at_creation(jwt: Callable[..., str]) -> None:
    token = jwt(time.time() - 10)
    with pytest.raises(ScicatLoginError, match="expired") as info:
        Client.from_token(url=URL, token=token)
    assert token not in str(info.value)


async def test_token_expiring_later_is_refused_before_any_request(
    jwt: Callable[..., str],
    scicat: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = scicat(lambda r: httpx.Response(200, json=RAW))
    expires = time.time() + 60
    async with Client.from_token(
        url=URL, token=jwt(expires), transport=fake.transport()
    ) as client:
        await client.get_dataset("p/1")
        monkeypatch.setattr(_token, "_now", lambda: expires + 1)
        with pytest.raises(ScicatLoginError, match="expired"):
            await client.get_dataset("p/1")
    assert len(fake.requests) == 1


async def test_expired_token_from_login_is_refused(
    jwt: Callable[..., str], scicat: Callable[..., Any]
) -> None:
    fake = scicat(
        lambda r: httpx.Response(201, json={"access_token": jwt(time.time() - 5)})
    )
    with pytest.raises(ScicatLoginError, match="expired"):
        await Client.from_credentials(
            url=URL, username="u", password="p", transport=fake.transport()
        )


def _leaks(token: str, texts: list[str]) -> list[str]:
    return [t for t in texts if token in t]


async def test_token_never_shows(
    token: str,
    scicat: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    sleeps: list[float],
) -> None:
    """Logs at DEBUG (ours, httpx's, httpcore's), reprs, messages, tracebacks."""
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(200, json=RAW),
            # A server that echoes the request's Authorization header back.
            httpx.Response(403, json={"message": f"bad header Bearer {token}"}),
            httpx.Response(500, text=f"trace: Authorization: Bearer {token}"),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        response = next(answers, None)
        if response is None:
            raise httpx.ConnectError(f"failed with {token}", request=request)
        return response

    fake = scicat(handler)
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "alink"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = Client.from_token(
        url=URL,
        token=token,
        transport=fake.transport(),
        retry=RetryPolicy(attempts=2),
    )
    texts += [repr(client), str(client)]
    async with client:
        dataset = await client.get_dataset("p/1")
        texts.append(repr(dataset))
        for _ in range(3):
            with pytest.raises(ScicatCommError) as info:
                await client.get_dataset("p/1")
            texts.append(str(info.value))
            texts.append("".join(traceback.format_exception(info.value)))
    texts.append(repr(client))
    texts += [r.getMessage() for r in caplog.records]
    texts += [str(r.args) for r in caplog.records]
    assert any("p%2F1" in r.getMessage() for r in caplog.records)  # logs work
    assert _leaks(token, texts) == []
    assert "<token>" in texts[3]
    assert "Client(url='https://scicat.test/api', logged_in=True" in texts[0]


async def test_repr_shows_url_and_login_state() -> None:
    async with Client.without_login(url=URL) as client:
        assert repr(client) == (
            "Client(url='https://scicat.test/api', logged_in=False, file_transfer=None)"
        )
    assert repr(Token("secret-value")) == "Token(<hidden>)"
    assert "secret-value" not in str(Token("secret-value"))
