"""Fault hooks: fail, drop, raw answers, delays, matching, and the request log."""

from __future__ import annotations

import re

import anyio
import httpx
import pytest

from alink.testing import ScicatSeed, ScicatServer

from ._helpers import bearer, q

pytestmark = pytest.mark.anyio


def _url(server: ScicatServer, seed: ScicatSeed) -> str:
    return f"{server.url}/v4/datasets/public/{q(seed.published_pid)}"


async def test_fail_next_then_recover(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    scicat_server.faults.fail_next(2, status=503)
    assert scicat_server.faults.pending == 2
    url = _url(scicat_server, scicat_seed)
    statuses = [(await http.get(url)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert scicat_server.faults.pending == 0
    assert [r.status for r in scicat_server.requests] == [503, 503, 200]


async def test_skip_lets_the_first_matching_requests_through(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    scicat_server.faults.fail_next(status=500, match="public", skip=2)
    url = _url(scicat_server, scicat_seed)
    statuses = [(await http.get(url)).status_code for _ in range(4)]
    assert statuses == [200, 200, 500, 200]


async def test_fail_body_is_nest_shaped(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    scicat_server.faults.fail_next(status=502)
    scicat_server.faults.fail_next(status=500, message="boom")
    url = _url(scicat_server, scicat_seed)
    assert (await http.get(url)).json() == {"message": "Bad Gateway", "statusCode": 502}
    assert (await http.get(url)).json() == {
        "message": "boom",
        "error": "Internal Server Error",
        "statusCode": 500,
    }


async def test_drop_next_closes_without_answer(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    url = _url(scicat_server, scicat_seed)
    assert (await http.get(url)).status_code == 200  # a pooled keep-alive connection
    scicat_server.faults.drop_next()
    with pytest.raises(httpx.TransportError):
        await http.get(url)
    assert (await http.get(url)).status_code == 200
    assert [r.status for r in scicat_server.requests] == [200, None, 200]


async def test_respond_raw_sends_exact_bytes(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    scicat_server.faults.respond_raw('{"pid": "trunc', status=200)
    scicat_server.faults.respond_raw(
        b"<html>gateway</html>", status=504, content_type="text/html"
    )
    url = _url(scicat_server, scicat_seed)
    r = await http.get(url)
    assert r.content == b'{"pid": "trunc'
    with pytest.raises(ValueError, match="Unterminated string"):
        r.json()
    r = await http.get(url)
    assert (r.status_code, r.headers["content-type"], r.text) == (
        504,
        "text/html",
        "<html>gateway</html>",
    )


async def test_faults_only_hit_matching_requests_in_order(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    faults = scicat_server.faults
    faults.fail_next(status=503, match="/v3/auth/login")
    faults.fail_next(status=504, method="GET", match=re.compile(r"/public/"))
    faults.fail_next(status=502)  # anything
    url = _url(scicat_server, scicat_seed)
    login = f"{scicat_server.url}/v3/auth/login"
    creds = {"username": "user1", "password": "pw1"}
    assert (await http.get(url)).status_code == 504
    assert (await http.get(url)).status_code == 502
    assert (await http.get(url)).status_code == 200
    assert (await http.post(login, json=creds)).status_code == 503
    assert (await http.post(login, json=creds)).status_code == 201


async def test_delay_makes_a_client_time_out(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    scicat_server.faults.delay(30, n=1)
    with pytest.raises(httpx.ReadTimeout):
        await http.get(_url(scicat_server, scicat_seed), timeout=0.2)
    # The next request is not delayed (n=1) and is answered.
    assert (await http.get(_url(scicat_server, scicat_seed))).status_code == 200


async def test_stop_cuts_a_delayed_request_short(
    scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    server = scicat_seed.server()
    outcome: list[str] = []

    async def call() -> None:
        try:
            await http.get(_url(server, scicat_seed), timeout=60)
            outcome.append("answered")
        except httpx.TransportError:
            outcome.append("dropped")

    try:
        await anyio.to_thread.run_sync(server.start)
        server.faults.delay(120, n=1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            with anyio.fail_after(10):
                # The request is held once its delay rule is used up; that
                # happens on a server thread, so there is no event to await.
                while server.faults.active_delays:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            await anyio.to_thread.run_sync(server.stop)
    finally:
        server.stop()
    assert outcome == ["dropped"]
    assert [r.status for r in server.requests] == [None]


async def test_persistent_delay_and_clear(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    faults = scicat_server.faults
    faults.delay(0.001)  # every request until cleared
    faults.fail_next(3)
    assert (faults.active_delays, faults.pending) == (1, 3)
    assert (await http.get(_url(scicat_server, scicat_seed))).status_code == 503
    assert faults.active_delays == 1
    faults.clear()
    assert (faults.active_delays, faults.pending) == (0, 0)
    assert (await http.get(_url(scicat_server, scicat_seed))).status_code == 200


def test_bad_fault_arguments_are_refused() -> None:
    faults = ScicatServer().faults
    with pytest.raises(ValueError, match="n must be"):
        faults.fail_next(0)
    with pytest.raises(ValueError, match="n must be"):
        faults.drop_next(True)
    with pytest.raises(ValueError, match="status"):
        faults.fail_next(status=99)
    with pytest.raises(ValueError, match="status"):
        faults.respond_raw("x", status=700)
    with pytest.raises(ValueError, match="seconds"):
        faults.delay(-1)
    with pytest.raises(ValueError, match="seconds"):
        faults.delay(float("inf"))
    with pytest.raises(ValueError, match="match"):
        faults.fail_next(match=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="body"):
        faults.respond_raw(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="skip"):
        faults.drop_next(skip=-1)
    assert faults.pending == 0
    assert faults.active_delays == 0


async def test_request_log_records_without_secrets(
    scicat_server: ScicatServer, scicat_seed: ScicatSeed, http: httpx.AsyncClient
) -> None:
    token = scicat_server.token("user1")
    await http.post(
        f"{scicat_server.url}/v3/auth/login",
        json={"username": "user1", "password": "pw1"},
    )
    await http.get(
        f"{scicat_server.url}/v4/datasets/{q(scicat_seed.raw_pid)}?include=origdatablocks",
        headers=bearer(token),
    )
    await http.get(_url(scicat_server, scicat_seed), headers=bearer("nonsense"))
    log = scicat_server.requests
    assert [r[:2] for r in log] == [
        ("POST", "/api/v3/auth/login"),
        ("GET", f"/api/v4/datasets/{q(scicat_seed.raw_pid)}"),
        ("GET", f"/api/v4/datasets/public/{q(scicat_seed.published_pid)}"),
    ]
    assert [(r.auth, r.user, r.status) for r in log] == [
        ("none", None, 201),
        ("valid", "user1", 200),
        ("invalid", None, 200),
    ]
    assert log[1].query == "include=origdatablocks"
    assert token not in repr(log)
    assert "pw1" not in repr(log)
    scicat_server.clear_requests()
    assert scicat_server.requests == []


async def test_internal_errors_answer_500_and_are_kept(
    scicat_server: ScicatServer,
    scicat_seed: ScicatSeed,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug in the double")

    monkeypatch.setattr("alink.testing._server.route", broken)
    r = await http.get(_url(scicat_server, scicat_seed))
    assert r.status_code == 500
    assert r.json() == {"statusCode": 500, "message": "Internal server error"}
    [error] = scicat_server.errors
    assert isinstance(error, RuntimeError)
