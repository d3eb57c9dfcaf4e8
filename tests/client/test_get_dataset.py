"""Client.get_dataset and login against a scripted fake SciCat (MockTransport)."""

from __future__ import annotations

import gc
import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import anyio.lowlevel
import httpx
import pytest

from alink import PID, Client, Dataset, RemotePath, ScicatCommError, ScicatLoginError
from alink.client import RetryPolicy, _http, _parse

pytestmark = pytest.mark.anyio

URL = "https://scicat.test"
DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())  # type: ignore[no-any-return]


RAW = load("dataset-raw.v4.json")
PID_TEXT = RAW["pid"]


def json_response(status: int, data: Any) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(data).encode())


@pytest.fixture
def serve(scicat: Callable[..., Any]) -> Callable[..., Any]:
    """``serve(data=RAW, status=200)``: a fake SciCat answering every request."""

    def make(data: Any = None, status: int = 200) -> Any:
        body = RAW if data is None else data
        return scicat(lambda request: json_response(status, body))

    return make


@pytest.fixture
def connect(token: str) -> Callable[..., Client]:
    """``connect(fake, **options)``: a logged-in client talking to ``fake``."""

    def make(fake: Any, **options: Any) -> Client:
        return Client.from_token(
            url=URL, token=token, transport=fake.transport(), **options
        )

    return make


# --- the request ---------------------------------------------------------


async def test_logged_in_request_shape(
    serve: Callable[..., Any], connect: Callable[..., Client], token: str
) -> None:
    fake = serve()
    token = token
    async with Client.from_token(
        url=URL + "/api/v3/", token=token, transport=fake.transport()
    ) as client:
        dataset = await client.get_dataset(PID_TEXT)
    [request] = fake.requests
    assert request.method == "GET"
    assert request.url.raw_path.decode() == (
        f"/api/v4/datasets/{quote(PID_TEXT, safe='')}?include=origdatablocks"
    )
    assert "%2F" in request.url.raw_path.decode()
    assert request.headers["authorization"] == f"Bearer {token}"
    timeout = request.extensions["timeout"]
    assert all(timeout[k] is not None for k in ("connect", "read", "write", "pool"))
    assert isinstance(dataset, Dataset)
    assert dataset.pid == PID.parse(PID_TEXT)
    assert dataset.source_folder == RemotePath("/hex/data/123")
    assert [f.remote_path for f in dataset.files] == ["file1.txt", "sub/song.mp3"]
    first = dataset.files[0]
    assert (first.size, first.checksum, first.checksum_algorithm) == (
        300,
        "97157d347fe9af920f5e61e96cf401cb",
        "md5",
    )
    # Unknown fields survive.
    assert dataset.fields["datasetlifecycle"]["archivable"] is True
    assert first.extra["_id"] == "6650c0e3a1b2c3d4e5f60720"


async def test_pid_object_is_accepted(
    serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve()
    async with connect(fake) as client:
        await client.get_dataset(PID.parse(PID_TEXT))
    assert quote(PID_TEXT, safe="") in fake.requests[0].url.raw_path.decode()


async def test_public_request_has_no_token(
    serve: Callable[..., Any], scicat: Callable[..., Any]
) -> None:
    fake = serve(load("dataset-derived.v4.json"))
    async with Client.without_login(url=URL, transport=fake.transport()) as client:
        assert not client.is_logged_in
        dataset = await client.get_dataset("PID.prefix.a0b1/9d2f")
    [request] = fake.requests
    assert request.url.raw_path.decode() == (
        "/api/v4/datasets/public/PID.prefix.a0b1%2F9d2f?include=origdatablocks"
    )
    assert "authorization" not in request.headers
    assert dataset.type == "derived"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://host", "http://host/api"),
        ("http://host/", "http://host/api"),
        ("http://host/api", "http://host/api"),
        ("http://host/api/", "http://host/api"),
        ("http://host/api/v3", "http://host/api"),
        ("http://host/api/v3/", "http://host/api"),
        ("https://host:8443/scicat/api/v4", "https://host:8443/scicat/api"),
        ("https://host/scicat", "https://host/scicat/api"),
    ],
)
async def test_base_url_is_normalised(given: str, expected: str) -> None:
    async with Client.without_login(url=given, allow_http=True) as client:
        assert client.url == expected


@pytest.mark.parametrize(
    "url", ["ftp://host/api", "host/api", "http://host/api?x=1", "", "http://"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        Client.without_login(url=url)


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing may be sent, got {request.url}")


async def test_plain_http_to_another_host_is_refused_before_anything_is_sent() -> None:
    # The token or password would cross the network in clear text.
    transport = httpx.MockTransport(_no_network)
    url = "http://scicat.example.org/api/v3"
    message = r"http://.*'scicat\.example\.org'.*unencrypted.*allow_http=True"
    with pytest.raises(ValueError, match=message):
        Client.from_token(url=url, token="tok", transport=transport)
    with pytest.raises(ValueError, match=message):
        await Client.from_credentials(
            url=url, username="u", password="p", transport=transport
        )
    with pytest.raises(ValueError, match=message):
        Client.without_login(url=url, transport=transport)


@pytest.mark.parametrize(
    "url",
    [
        "http://scicat.example.org",
        "http://127.0.0.1.evil.test",
        "http://localhost.evil.test",
    ],
)
async def test_allow_http_lets_plain_http_through(url: str) -> None:
    with pytest.raises(ValueError, match="allow_http"):
        Client.without_login(url=url)
    async with Client.without_login(url=url, allow_http=True) as client:
        assert client.url == url + "/api"
    async with Client.from_token(url=url, token="t", allow_http=True) as client:
        assert client.url.startswith("http://")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://127.8.9.10",
        "http://localhost:3000",
        "http://LocalHost",
        "http://[::1]:8080",
    ],
)
async def test_plain_http_to_a_loopback_host_needs_no_permission(url: str) -> None:
    # Its traffic never leaves the machine (local SciCat, test doubles).
    async with Client.without_login(url=url) as client:
        assert client.url.startswith("http://")


def test_allow_http_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="allow_http"):
        Client.without_login(url="https://h", allow_http="yes")  # type: ignore[arg-type]


def test_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="user name or password") as info:
        Client.without_login(url="https://me:s3cret@host/api")
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("pid", ["", "   "])
async def test_empty_pid_is_refused(
    pid: str, serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve()
    async with connect(fake) as client:
        with pytest.raises(ValueError, match="empty"):
            await client.get_dataset(pid)
        with pytest.raises(TypeError, match="pid"):
            await client.get_dataset(42)  # type: ignore[arg-type]
    assert fake.requests == []


# --- login ----------------------------------------------------------------


async def test_login_posts_credentials_and_uses_the_token(
    scicat: Callable[..., Any], token: str
) -> None:
    token = token
    answer = load("login-response.json")
    answer["access_token"] = answer["id"] = token

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v3/auth/login":
            return json_response(201, answer)
        return json_response(200, RAW)

    fake = scicat(handler)
    client = await Client.from_credentials(
        url=URL, username="user1", password="pw1", transport=fake.transport()
    )
    async with client:
        assert client.is_logged_in
        await client.get_dataset(PID_TEXT)
    login, get = fake.requests
    assert login.method == "POST"
    assert json.loads(login.content) == {"username": "user1", "password": "pw1"}
    assert get.headers["authorization"] == f"Bearer {token}"


async def test_login_reads_id_when_access_token_is_missing(
    scicat: Callable[..., Any], token: str
) -> None:
    token = token
    fake = scicat(
        lambda r: (
            json_response(201, {"id": token})
            if r.method == "POST"
            else json_response(200, RAW)
        )
    )
    client = await Client.from_credentials(
        url=URL, username="u", password="p", transport=fake.transport()
    )
    async with client:
        await client.get_dataset(PID_TEXT)
    assert fake.requests[1].headers["authorization"] == f"Bearer {token}"


async def test_login_401_is_a_login_error_and_not_retried(
    sleeps: list[float], scicat: Callable[..., Any]
) -> None:
    fake = scicat(lambda r: json_response(401, load("error-401.json")))
    with pytest.raises(ScicatLoginError, match="user1") as info:
        await Client.from_credentials(
            url=URL, username="user1", password="hunter2", transport=fake.transport()
        )
    assert len(fake.requests) == 1
    assert sleeps == []
    assert "hunter2" not in str(info.value)


async def test_login_answer_without_token(
    scicat: Callable[..., Any], token: str
) -> None:
    fake = scicat(lambda r: json_response(201, {"user": {}}))
    with pytest.raises(ScicatCommError, match="no token"):
        await Client.from_credentials(
            url=URL, username="u", password="p", transport=fake.transport()
        )


async def test_login_other_error_is_a_comm_error(scicat: Callable[..., Any]) -> None:
    fake = scicat(lambda r: json_response(500, {"message": "boom"}))
    with pytest.raises(ScicatCommError, match="boom") as info:
        await Client.from_credentials(
            url=URL, username="u", password="p", transport=fake.transport()
        )
    assert info.value.status_code == 500


async def test_login_echoing_the_password_is_scrubbed(
    scicat: Callable[..., Any],
) -> None:
    fake = scicat(
        lambda r: json_response(401, {"message": "bad password hunter2 for u"})
    )
    with pytest.raises(ScicatLoginError) as info:
        await Client.from_credentials(
            url=URL, username="u", password="hunter2", transport=fake.transport()
        )
    assert "hunter2" not in str(info.value)


# --- errors -------------------------------------------------------------------


async def test_404_logged_in(
    serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve(load("error-404.json"), status=404)
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError, match="not found") as info:
            await client.get_dataset("nope")
    assert info.value.status_code == 404


@pytest.mark.parametrize("body", [b"", b"  \n", b"null"])
async def test_public_empty_body_is_not_found(
    body: bytes, scicat: Callable[..., Any]
) -> None:
    fake = scicat(lambda r: httpx.Response(200, content=body))
    async with Client.without_login(url=URL, transport=fake.transport()) as client:
        with pytest.raises(ScicatCommError, match="not found") as info:
            await client.get_dataset("nope")
    assert info.value.status_code == 404


async def test_403_keeps_status_and_message(
    serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve(load("error-403.json"), status=403)
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError, match="Forbidden resource") as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.status_code == 403


async def test_other_http_error_has_status_and_message(
    sleeps: list[float], serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve({"message": ["a is wrong", "b too"]}, status=400)
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError, match="a is wrong; b too") as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.status_code == 400
    assert len(fake.requests) == 1  # not retried


async def test_a_long_list_of_server_messages_is_capped(
    sleeps: list[float], serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve({"message": [f"field{i} is wrong" for i in range(300)]}, status=400)
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError) as info:
            await client.get_dataset(PID_TEXT)
    text = str(info.value)
    assert "field4 is wrong; and 295 more" in text
    assert "field5" not in text
    assert len(text) < 600


async def test_non_json_error_body_is_quoted(
    scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = scicat(lambda r: httpx.Response(500, content=b"<h1>oops</h1>"))
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError, match="oops") as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.status_code == 500


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"pid": "x"', "malformed JSON"),
        (b"[1, 2]", "JSON array"),
        (b'"text"', "JSON string"),
    ],
)
async def test_malformed_json(
    body: bytes, match: str, scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = scicat(lambda r: httpx.Response(200, content=body))
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError, match=match) as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.__cause__ is None


def _with(change: Any) -> dict[str, Any]:
    data = load("dataset-raw.v4.json")
    change(data)
    return data


def _many_files(data: dict[str, Any]) -> None:
    entries = data["origdatablocks"][0]["dataFileList"]
    entries.extend({"path": f"f{i}", "size": 1} for i in range(3))
    entries[3]["size"] = "12"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_with(lambda d: d.update(origdatablocks={"a": 1})), "origdatablocks.*list"),
        (_with(_many_files), r"dataFileList\[3\]\.size"),
        (_with(lambda d: d.pop("type")), "type"),
        (_with(lambda d: d.update(sourceFolder=5)), "sourceFolder"),
        (
            _with(lambda d: d["origdatablocks"][0].update(dataFileList=[5])),
            r"dataFileList\[0\]",
        ),
        (
            _with(lambda d: d["origdatablocks"][0]["dataFileList"][0].pop("path")),
            "path",
        ),
        (
            _with(lambda d: d["origdatablocks"][0]["dataFileList"][1].update(time="x")),
            "time",
        ),
        (_with(lambda d: d.update(origdatablocks=[[]])), r"origdatablocks\[0\]"),
    ],
)
async def test_wrong_shapes_are_comm_errors(
    data: dict[str, Any],
    match: str,
    serve: Callable[..., Any],
    connect: Callable[..., Client],
) -> None:
    fake = serve(data)
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError, match=match) as info:
            await client.get_dataset(PID_TEXT)
    assert "unexpected shape" in str(info.value)
    assert info.value.status_code is None


# --- retries ---------------------------------------------------------------


async def test_retries_through_503_with_backoff(
    sleeps: list[float], scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    statuses = iter([503, 502, 504])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses, 200)
        return json_response(status, RAW if status == 200 else {"message": "busy"})

    fake = scicat(handler)
    async with connect(fake) as client:
        dataset = await client.get_dataset(PID_TEXT)
    assert len(dataset.files) == 2
    assert len(fake.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


async def test_retries_are_bounded(
    sleeps: list[float], scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = scicat(
        lambda r: httpx.Response(503, headers={"Retry-After": "3600"}, content=b"")
    )
    policy = RetryPolicy(attempts=6, backoff=0.25, max_backoff=2.0)
    async with connect(fake, retry=policy) as client:
        with pytest.raises(ScicatCommError, match="503") as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.status_code == 503
    assert len(fake.requests) == 6
    assert len(sleeps) == 5
    assert all(0 <= s <= 2.0 for s in sleeps)


async def test_no_retry_with_one_attempt(
    sleeps: list[float], scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = scicat(lambda r: httpx.Response(502))
    async with connect(fake, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(ScicatCommError) as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.status_code == 502
    assert (len(fake.requests), sleeps) == (1, [])


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
async def test_connection_errors_are_retried(
    sleeps: list[float],
    error: type[httpx.TransportError],
    scicat: Callable[..., Any],
    connect: Callable[..., Client],
) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise error("network trouble", request=request)
        return json_response(200, RAW)

    fake = scicat(handler)
    async with connect(fake) as client:
        dataset = await client.get_dataset(PID_TEXT)
    assert calls == 3
    assert len(sleeps) == 2
    assert dataset.pid == PID.parse(PID_TEXT)


async def test_connection_errors_give_up(
    sleeps: list[float], scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    fake = scicat(handler)
    async with connect(fake, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(ScicatCommError, match="ConnectError") as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.status_code is None
    assert len(fake.requests) == 3
    assert info.value.__cause__ is None


async def test_real_connection_refused(sleeps: list[float], token: str) -> None:
    # Nothing listens on port 9 of 127.0.0.1 here (discard service is off).
    async with Client.from_token(
        url="http://127.0.0.1:9",
        token=token,
        retry=RetryPolicy(attempts=2),
        timeout=5,
    ) as client:
        with pytest.raises(ScicatCommError, match="could not get"):
            await client.get_dataset(PID_TEXT)
    assert len(sleeps) == 1


# --- limits -------------------------------------------------------------------


async def test_response_too_large_by_content_length(
    scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    body = json.dumps(RAW).encode()
    fake = scicat(lambda r: httpx.Response(200, content=body))
    async with connect(fake, max_response_size=len(body) - 1) as client:
        with pytest.raises(ScicatCommError, match="larger than the limit"):
            await client.get_dataset(PID_TEXT)
    async with connect(fake, max_response_size=len(body)) as client:
        await client.get_dataset(PID_TEXT)


async def test_streamed_response_stops_past_the_limit(
    scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            await anyio.lowlevel.checkpoint()  # a network read: a checkpoint
            yield b" " * 1024

    fake = scicat(lambda r: httpx.Response(200, content=endless()))
    async with connect(fake, max_response_size=10_000) as client:
        with pytest.raises(ScicatCommError, match="larger than the limit"):
            await client.get_dataset(PID_TEXT)
    assert pulled <= 11


async def test_too_many_files(
    serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve()
    async with connect(fake, max_files=1) as client:
        with pytest.raises(ScicatCommError, match="2 files, more than the limit of 1"):
            await client.get_dataset(PID_TEXT)


def test_too_many_objects_are_refused_before_decoding() -> None:
    body = b"[" + b"{}," * 200_010 + b"{}]"
    with pytest.raises(ScicatCommError, match="too many JSON objects"):
        _parse.dataset_from_body(body, what="x", max_files=10)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_refused(
    status: int, scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = scicat(
        lambda r: httpx.Response(status, headers={"Location": "http://evil.test/x"})
    )
    async with connect(fake) as client:
        with pytest.raises(ScicatCommError, match="redirect") as info:
            await client.get_dataset(PID_TEXT)
    assert info.value.status_code == status
    assert len(fake.requests) == 1
    assert "evil.test" not in {r.url.host for r in fake.requests}


async def test_big_body_is_parsed_on_a_thread_and_gc_is_restored(
    scicat: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    data = load("dataset-raw.v4.json")
    entry = data["origdatablocks"][0]["dataFileList"][0]
    data["origdatablocks"][0]["dataFileList"] = [
        dict(entry, path=f"sub/f{i}.dat") for i in range(6000)
    ]
    body = json.dumps(data).encode()
    assert len(body) > _parse.OFFLOAD_BYTES
    fake = scicat(lambda r: httpx.Response(200, content=body))
    assert gc.isenabled()
    async with connect(fake) as client:
        dataset = await client.get_dataset(PID_TEXT)
    assert gc.isenabled()
    assert len(dataset.files) == 6000
    assert dataset.files[-1].remote_path == "sub/f5999.dat"


# --- lifetime -------------------------------------------------------------------


async def test_closed_client_refuses_requests(
    serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve()
    client = connect(fake)
    await client.aclose()
    assert "closed" in repr(client)
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_dataset(PID_TEXT)
    assert fake.requests == []


async def test_connections_are_reused(
    serve: Callable[..., Any], connect: Callable[..., Client]
) -> None:
    fake = serve()
    client = connect(fake)
    async with client:
        await client.get_dataset(PID_TEXT)
        session = client._session._client
        assert session is not None
        await client.get_dataset(PID_TEXT)
        assert client._session._client is session
    assert session.is_closed


async def test_the_tls_context_is_made_once_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the CA bundle blocks for tens of milliseconds: it happens on a
    worker thread, once per process, not when a client is created."""
    made: list[bool] = []
    loop_thread = threading.get_ident()

    def make() -> ssl.SSLContext:
        made.append(threading.get_ident() != loop_thread)
        return ssl.create_default_context()

    monkeypatch.setattr(_http, "_ssl_context", None)
    monkeypatch.setattr(_http, "_make_ssl_context", make)
    clients = [
        Client.without_login(url="http://127.0.0.1:9", retry=RetryPolicy(attempts=1))
        for _ in range(3)
    ]
    assert made == []
    for client in clients:
        async with client:
            with pytest.raises(ScicatCommError):  # nothing listens on port 9
                await client.get_dataset("x")
    assert made == [True]


def _settings(context: ssl.SSLContext) -> dict[str, Any]:
    return {
        "ca": sorted(json.dumps(c, sort_keys=True) for c in context.get_ca_certs()),
        "stats": context.cert_store_stats(),
        "verify_mode": context.verify_mode,
        "check_hostname": context.check_hostname,
        "verify_flags": context.verify_flags,
        "options": context.options,
        "protocol": context.protocol,
        "versions": (context.minimum_version, context.maximum_version),
        "ciphers": [c["name"] for c in context.get_ciphers()],
    }


def test_the_tls_context_is_httpx_s_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    ours = _http._make_ssl_context()
    assert ours.cert_store_stats()["x509_ca"] > 50  # certifi's bundle
    assert _settings(ours) == _settings(httpx.create_ssl_context())


def test_the_tls_context_follows_ssl_cert_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import certifi

    bundle = Path(certifi.where()).read_text()
    first = bundle[: bundle.index("-----END CERTIFICATE-----") + 25] + "\n"
    (tmp_path / "one.pem").write_text(first)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "one.pem"))
    assert _http._make_ssl_context().cert_store_stats()["x509_ca"] == 1


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("timeout", 0, ValueError),
        ("timeout", None, TypeError),
        ("timeout", httpx.Timeout(None), ValueError),
        ("max_response_size", 0, ValueError),
        ("max_files", -1, ValueError),
        ("max_files", 1.5, TypeError),
    ],
)
def test_bad_options(option: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Client.without_login(url=URL, **{option: value})


def test_retry_policy_validation() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(backoff=10, max_backoff=1)
    policy = RetryPolicy(attempts=5, backoff=1, max_backoff=3)
    assert [policy.delay(n) for n in range(4)] == [1, 2, 3, 3]
    assert policy.delay(0, retry_after=2.5) == 2.5
    assert policy.delay(0, retry_after=100) == 3
