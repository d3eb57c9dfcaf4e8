"""Starting and stopping: sync and async forms, prompt shutdown, no threads left."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import httpx
import pytest

from alink.testing import ScicatServer, example_seed, make_dataset

from ._helpers import bearer, q, server_threads


def test_sync_with_serves_and_stops_cleanly() -> None:
    seed = example_seed()
    before = server_threads()
    with seed.server() as server:
        assert server.running
        assert server.url.startswith("http://127.0.0.1:")
        assert server.url.endswith("/api")
        with httpx.Client() as client:  # keep-alive connections stay open ...
            for _ in range(3):
                r = client.get(
                    f"{server.url}/v4/datasets/public/{q(seed.published_pid)}"
                )
                assert r.status_code == 200
            assert len(server_threads()) > len(before)
            server.stop()  # ... and are cut by stop()
            assert not server.running
            assert server_threads() == before
    assert server_threads() == before


@pytest.mark.anyio
async def test_async_with_serves_and_stops_cleanly() -> None:
    seed = example_seed()
    before = server_threads()
    async with seed.server() as server, httpx.AsyncClient() as client:
        r = await client.get(f"{server.url}/v4/datasets/public/{q(seed.published_pid)}")
        assert r.status_code == 200
    assert not server.running
    assert server_threads() == before


@pytest.mark.anyio
async def test_serving_does_not_depend_on_the_event_loop() -> None:
    seed = example_seed()
    async with seed.server() as server:
        # A blocking call inside the loop is still answered: the server runs
        # on its own threads.
        url = f"{server.url}/v4/datasets/public/{q(seed.published_pid)}"
        r = httpx.get(url)  # noqa: ASYNC210  (blocking the loop on purpose)
        assert r.status_code == 200


@pytest.mark.anyio
async def test_async_exit_stops_even_when_cancelled() -> None:
    server = example_seed().server()
    before = server_threads()
    with anyio.CancelScope() as scope:
        async with server:
            scope.cancel()
            await anyio.sleep(1)
    assert not server.running
    assert server_threads() == before


def test_port_is_free_after_stop_and_restart_gets_a_new_server() -> None:
    server = ScicatServer(users={"u": "p"})
    server.start()
    port = server.port
    server.stop()
    with socket.socket() as s:  # the port is released
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    with server:  # restartable, same data and users
        r = httpx.post(
            f"{server.url}/v3/auth/login", json={"username": "u", "password": "p"}
        )
        assert r.status_code == 201


def test_url_before_start_and_double_start_are_errors() -> None:
    server = ScicatServer()
    assert not server.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
    with server, pytest.raises(RuntimeError, match="already running"):
        server.start()
    server.stop()  # idempotent
    server.stop()


def test_two_servers_run_side_by_side() -> None:
    with ScicatServer() as a, ScicatServer() as b:
        assert a.port != b.port


def test_repr_shows_no_secrets() -> None:
    server = ScicatServer(users={"user1": "hunter2"})
    token = server.token("user1")
    assert "stopped" in repr(server)
    with server:
        text = repr(server) + repr(server.faults)
        assert server.url in text
    assert "hunter2" not in text
    assert token not in text
    assert "hunter2" not in repr(server._users.get("user1"))


@pytest.mark.anyio
async def test_data_added_while_running_is_served(scicat_server_factory: Any) -> None:
    server = scicat_server_factory()
    server.add_user("late", "pw", groups=["g"])
    ds, blocks = make_dataset(
        pid="p/late", source_folder="/d", files=[("a", 1)], owner_group="g"
    )
    server.add_dataset(ds)
    for block in blocks:
        server.add_orig_datablock(block)
    async with httpx.AsyncClient() as client:
        r = await client.get(
            f"{server.url}/v4/datasets/{q('p/late')}?include=origdatablocks",
            headers=bearer(server.token("late")),
        )
    assert r.status_code == 200
    assert r.json()["origdatablocks"][0]["dataFileList"][0]["path"] == "a"
