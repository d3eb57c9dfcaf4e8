"""Query strings and form bodies are read as Express's ``qs`` reads them.

``+`` is a space and ``%XX`` escapes are undone with ``decodeURIComponent``;
a key or value whose escapes are malformed or not UTF-8 is kept as given
(Python's ``parse_qs`` would put U+FFFD there and decode the rest).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from alink.testing import ScicatServer, make_dataset
from alink.testing._query import parse_query

from ._helpers import bearer


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {}),
        ("a=1&b=2&a=3", {"a": ["1", "3"], "b": ["2"]}),
        ("a=&b", {"a": [""], "b": [""]}),
        ("a=x+y%20z", {"a": ["x y z"]}),
        ("a=%C3%BC", {"a": ["ü"]}),
        ("a=%2B&%61=b", {"a": ["+", "b"]}),
        ("a=50%", {"a": ["50%"]}),
        ("a=%41%zz", {"a": ["%41%zz"]}),  # one bad escape: the value stays raw
        ("a=%FF+x", {"a": ["%FF x"]}),  # not UTF-8: raw, '+' still a space
        ("a=%ED%A0%80", {"a": ["%ED%A0%80"]}),  # a lone surrogate
        ("k%zz=v", {"k%zz": ["v"]}),
        ("a=b=c&&", {"a": ["b=c"]}),
    ],
)
def test_parse_query_reads_like_qs(query: str, expected: dict[str, list[str]]) -> None:
    assert parse_query(query) == expected


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["%41%zz", "%FF"])
async def test_a_filter_with_a_malformed_escape_is_not_json(
    scicat_server_factory: Callable[..., ScicatServer],
    http: httpx.AsyncClient,
    name: str,
) -> None:
    """The filter's quotes are escaped (``%22``) like every client sends
    them; one malformed escape keeps the whole value raw, so its JSON
    starts with ``%7B``: 400, where decoding the rest would have run a
    query for a name with U+FFFD in it."""
    made = make_dataset(pid="PID1", source_folder="/data/x", datasetName="\ufffd")
    server = scicat_server_factory(datasets=[made.dataset], users={"user1": "pw1"})
    where = json.dumps({"where": {"datasetName": name}})
    r = await http.get(
        f"{server.url}/v4/datasets",
        params={"filter": where.replace(name, "NAME")},
        headers=bearer(server.token("user1")),
    )
    assert r.status_code == 200  # the same filter, well formed
    url = str(r.request.url).replace("NAME", name)
    assert "%7B" in url
    r = await http.get(url, headers=bearer(server.token("user1")))
    assert r.status_code == 400
    assert r.json()["message"].startswith("Invalid JSON in filter")


@pytest.mark.anyio
async def test_a_form_login_keeps_a_malformed_password_as_given(
    scicat_server_factory: Callable[..., ScicatServer], http: httpx.AsyncClient
) -> None:
    server = scicat_server_factory(users={"user1": "p%zz+1"})
    r = await http.post(
        f"{server.url}/v3/auth/login",
        content=b"username=user1&password=p%zz%2B1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 401  # '%2B' stays raw too: the whole value is kept
    r = await http.post(
        f"{server.url}/v3/auth/login",
        content=b"username=user1&password=p%zz+1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 401  # '+' is a space: 'p%zz 1'
    server2 = scicat_server_factory(users={"user1": "p%zz 1"})
    r = await http.post(
        f"{server2.url}/v3/auth/login",
        content=b"username=user1&password=p%zz+1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 201
