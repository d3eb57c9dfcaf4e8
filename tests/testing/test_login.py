"""POST /api/v3/auth/login: the 201 answer, its JWT, and the 401/400 refusals."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from alink.testing import ScicatServer

from ._helpers import bearer, example, q

pytestmark = pytest.mark.anyio


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=="))
    return result


async def test_login_answers_201_with_the_scicat_shape(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    before = int(time.time())
    r = await http.post(
        f"{scicat_server.url}/v3/auth/login",
        json={"username": "user1", "password": "pw1"},
    )
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    reference = example("login-response.json")
    assert list(body) == list(reference)
    assert list(body["user"]) == list(reference["user"])
    assert body["access_token"] == body["id"]
    assert body["expires_in"] == body["ttl"] == 3600
    assert body["userId"] == body["user"]["_id"] == body["user"]["id"]
    assert body["user"]["username"] == "user1"
    assert body["user"]["email"] == "user1@your.site"
    assert "password" not in r.text
    assert "pw1" not in r.text
    assert body["created"].endswith("Z")
    payload = _payload(body["access_token"])
    # Payload = user document + iat/exp, like SciCat's JWTs.
    assert {k: v for k, v in payload.items() if k not in ("iat", "exp")} == body["user"]
    assert before <= payload["iat"] <= time.time()
    assert payload["exp"] == payload["iat"] + 3600


async def test_login_token_opens_the_authenticated_endpoint(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        f"{scicat_server.url}/v3/auth/login",
        json={"username": "admin", "password": "admin-pw"},
    )
    token = r.json()["id"]
    pid = scicat_server.pids[0]
    r = await http.get(
        f"{scicat_server.url}/v4/datasets/{q(pid)}", headers=bearer(token)
    )
    assert r.status_code == 200
    assert r.json()["pid"] == pid
    assert scicat_server.requests[-1].user == "admin"


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "user1", "password": "wrong"},
        {"username": "nobody", "password": "pw1"},
        {"username": "user1"},
        {"password": "pw1"},
        {},
        {"username": "user1", "password": None},
        {"username": ["user1"], "password": "pw1"},
        ["user1", "pw1"],
    ],
    ids=[
        "wrong-password",
        "unknown-user",
        "no-password",
        "no-username",
        "empty",
        "null-password",
        "list-username",
        "array-body",
    ],
)
async def test_bad_credentials_answer_401_without_error_key(
    scicat_server: ScicatServer, http: httpx.AsyncClient, credentials: object
) -> None:
    r = await http.post(f"{scicat_server.url}/v3/auth/login", json=credentials)
    assert r.status_code == 401
    assert r.json() == example("error-401.json")


async def test_login_without_body_is_401(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await http.post(f"{scicat_server.url}/v3/auth/login")
    assert r.status_code == 401
    assert r.json() == {"message": "Unauthorized", "statusCode": 401}


async def test_login_with_malformed_json_is_400(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        f"{scicat_server.url}/v3/auth/login",
        content=b'{"username": ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "Bad Request"
    assert body["statusCode"] == 400
    assert "JSON" in body["message"]


async def test_login_accepts_a_form_body(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        f"{scicat_server.url}/v3/auth/login",
        data={"username": "user2", "password": "pw2"},
    )
    assert r.status_code == 201
    assert r.json()["user"]["username"] == "user2"


async def test_login_only_exists_in_v3_and_for_post(
    scicat_server: ScicatServer, http: httpx.AsyncClient
) -> None:
    creds = {"username": "user1", "password": "pw1"}
    r = await http.post(f"{scicat_server.url}/v4/auth/login", json=creds)
    assert r.status_code == 404
    r = await http.get(f"{scicat_server.url}/v3/auth/login")
    assert r.status_code == 404
    assert r.json() == {
        "message": "Cannot GET /api/v3/auth/login",
        "error": "Not Found",
        "statusCode": 404,
    }


async def test_token_lifetime_is_configurable(
    scicat_server_factory: Any, http: httpx.AsyncClient
) -> None:
    server = scicat_server_factory(users={"u": "p"}, token_lifetime=120)
    r = await http.post(
        f"{server.url}/v3/auth/login", json={"username": "u", "password": "p"}
    )
    body = r.json()
    assert body["expires_in"] == body["ttl"] == 120
    payload = _payload(body["id"])
    assert payload["exp"] - payload["iat"] == 120
