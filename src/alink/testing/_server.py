"""``ScicatServer``: a real HTTP SciCat double for tests, demos and benchmarks."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self

import anyio
import anyio.to_thread

from ._faults import Faults
from ._http import HttpServer
from ._routes import Request, Response, internal_error, nest_error, route
from ._store import DatasetStore
from ._upload_routes import WriteConfig, upload_route
from ._users import UserRegistry

__all__ = ["RecordedRequest", "ScicatServer"]


class RecordedRequest(NamedTuple):
    """One request the server received (tokens are never recorded).

    ``r[:2] == ("GET", "/api/v4/datasets/...")`` compares method and path.
    """

    method: str
    #: Raw path as sent (percent-encoding kept), without the query.
    path: str
    #: Raw query string, ``""`` if none.
    query: str
    #: ``"none"`` (no Authorization header), ``"valid"`` or ``"invalid"`` token.
    auth: Literal["none", "valid", "invalid"]
    #: The user of a valid token, else ``None``.
    user: str | None
    #: The status answered, ``None`` if the connection was dropped.
    status: int | None


def _seconds(value: float | timedelta, what: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be seconds or a timedelta, got {value!r}")
    return float(value)


class ScicatServer:
    """A SciCat backend double: a real HTTP server on 127.0.0.1, random port.

    Serves the endpoints alink and Scitacean use (login, v4 dataset, v4
    public dataset, v4 dataset searches, v3 dataset, its orig datablocks and
    v3 fullquery; for uploads, v4 dataset validation and creation, orig
    datablock creation, and deleting both) with the status codes and JSON
    shapes of scicat-backend-next, validation failures included. Tokens are
    HS256 JWTs signed with a random per-server secret.

    Run it with ``async with server:`` (asyncio or trio; start and stop run in
    a worker thread so the event loop never blocks) or ``with server:`` from
    synchronous code. Requests are served by background threads, so the
    server is independent of the caller's event loop.

    Args:
        datasets: SciCat dataset JSON objects, each with a ``"pid"``. An
            embedded ``"origdatablocks"`` list is accepted too.
        orig_datablocks: OrigDatablock JSON objects; ``"datasetId"`` names
            the dataset. A missing ``_id`` is generated and a missing
            ``isPublished`` is ``false``, as in SciCat.
        users: username -> password, or -> ``{"password": ..., "email": ...,
            "groups": [...]}``. A user without ``groups`` may read every
            dataset; with groups, only datasets whose ``ownerGroup`` or
            ``accessGroups`` share one, that are shared with the user's
            email, or that are published.
        token_lifetime: Lifetime of tokens from login and :meth:`token`.
        delete_groups: Groups whose users may delete datasets and orig
            datablocks (SciCat's ``DELETE_GROUPS``); users without groups may
            too. Others get 403, as in SciCat's default configuration.
        pid_prefix: Prefix of the pids of datasets created through the API.
        max_body_size: Largest request body accepted (SciCat's 16 MiB);
            larger ones get 413, as from a proxy with a lower limit.
    """

    def __init__(
        self,
        *,
        datasets: Iterable[Mapping[str, Any]] = (),
        orig_datablocks: Iterable[Mapping[str, Any]] = (),
        users: Mapping[str, str | Mapping[str, Any]] | None = None,
        token_lifetime: float | timedelta = 3600,
        delete_groups: Iterable[str] = (),
        pid_prefix: str = "PID.prefix.a0b1",
        max_body_size: int = 16 << 20,
    ) -> None:
        if isinstance(delete_groups, str):
            raise ValueError("delete_groups must be a list of group names")
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
            raise ValueError("max_body_size must be an integer number of bytes")
        if max_body_size < 1:
            raise ValueError("max_body_size must be positive")
        self._writes = WriteConfig(pid_prefix, frozenset(delete_groups))
        self._max_body = max_body_size
        self._token_lifetime = _seconds(token_lifetime, "token_lifetime")
        if self._token_lifetime <= 0:
            raise ValueError("token_lifetime must be positive")
        self._users = UserRegistry(secrets.token_bytes(32))
        self._store = DatasetStore()
        self.faults = Faults()
        self._log_lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._http: HttpServer | None = None
        self._lifecycle = threading.Lock()
        for dataset in datasets:
            self.add_dataset(dataset)
        for block in orig_datablocks:
            self.add_orig_datablock(block)
        for username, spec in (users or {}).items():
            self._users.add_from_spec(username, spec)

    def __repr__(self) -> str:
        where = self.url if self._http is not None else "stopped"
        return (
            f"ScicatServer({where}, datasets={len(self._store)},"
            f" users={len(self._users)})"
        )

    # --- data -------------------------------------------------------------

    def add_dataset(
        self,
        dataset: Mapping[str, Any],
        orig_datablocks: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Add a dataset (and its orig datablocks); its pid must be new.

        The server keeps its own copy: changing ``dataset`` afterwards has no
        effect. ``ValueError`` if anything is malformed (nothing is added then).
        """
        self._store.add_dataset(dataset, orig_datablocks)

    def add_orig_datablock(self, block: Mapping[str, Any]) -> None:
        """Add an orig datablock to the (existing) dataset named by ``datasetId``."""
        self._store.add_block(block)

    def update_dataset(self, pid: str, fields: Mapping[str, Any]) -> None:
        """Replace top-level fields of a dataset, e.g. ``{"isPublished": True}``."""
        self._store.update_dataset(pid, fields)

    def remove_dataset(self, pid: str) -> None:
        """Remove a dataset and its orig datablocks."""
        self._store.remove_dataset(pid)

    def dataset(self, pid: str) -> dict[str, Any]:
        """A copy of a stored dataset's fields (without datablocks)."""
        return self._store.dataset(pid)

    def orig_datablocks(self, pid: str) -> list[dict[str, Any]]:
        """Copies of a stored dataset's orig datablocks (``[]`` if none)."""
        return self._store.blocks(pid)

    @property
    def pids(self) -> list[str]:
        """The pids of all datasets on the server."""
        return self._store.pids()

    def add_user(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        groups: Iterable[str] | None = None,
    ) -> None:
        """Add a user; ``groups=None`` may read every dataset (see class doc)."""
        self._users.add(username, password, email=email, groups=groups)

    def token(
        self, username: str, *, expires_in: float | timedelta | None = None
    ) -> str:
        """A JWT for ``username``, valid for ``expires_in`` (default: the lifetime).

        A negative ``expires_in`` gives an already expired token, e.g.
        ``server.token("user1", expires_in=-60)``.
        """
        user = self._users.get(username)
        lifetime = (
            self._token_lifetime
            if expires_in is None
            else _seconds(expires_in, "expires_in")
        )
        return self._users.mint(user, lifetime=lifetime, now=time.time())

    # --- observation ------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._log_lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._log_lock:
            self._log.clear()

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions raised while answering (each gave a 500)."""
        with self._log_lock:
            return list(self._errors)

    # --- lifecycle --------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server is accepting requests."""
        return self._http is not None

    @property
    def port(self) -> int:
        """The TCP port (``RuntimeError`` unless running)."""
        if self._http is None:
            raise RuntimeError("the SciCat server is not running; start it first")
        return self._http.port

    @property
    def url(self) -> str:
        """Base URL of the API, ``http://127.0.0.1:<port>/api``."""
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Bind a free port and start serving (``RuntimeError`` if running)."""
        with self._lifecycle:
            if self._http is not None:
                raise RuntimeError("the SciCat server is already running")
            self._stopping.clear()
            self._http = HttpServer(
                self._handle,
                on_stop=self._stopping.set,
                max_body=self._max_body,
                on_refused=self._refused,
            )

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread.

        Idempotent. ``RuntimeError`` if a thread refuses to end.
        """
        with self._lifecycle:
            http, self._http = self._http, None
            if http is None:
                return
            leftover = http.close()
        if leftover:
            raise RuntimeError(
                f"SciCat server threads did not stop: {[t.name for t in leftover]}"
            )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        try:
            await anyio.to_thread.run_sync(self.start)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.stop)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)

    # --- request handling (server threads) --------------------------------

    def _record(self, entry: RecordedRequest) -> None:
        with self._log_lock:
            self._log.append(entry)

    def _refused(
        self, method: str, target: str, headers: dict[str, str], response: Response
    ) -> None:
        """Record a request the transport answered itself (e.g. 413)."""
        path, _, query = target.partition("?")
        auth = self._users.authenticate(headers.get("authorization"), now=time.time())
        self._record(
            RecordedRequest(
                method=method,
                path=path,
                query=query,
                auth=auth.state,
                user=None if auth.user is None else auth.user.username,
                status=response.status,
            )
        )

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response | None:
        path, _, query = target.partition("?")
        if not path.startswith("/"):  # absolute-form target: keep the path only
            path = "/" + path.split("://", 1)[-1].partition("/")[2]
        auth = self._users.authenticate(headers.get("authorization"), now=time.time())
        user = auth.user
        response: Response | None
        try:
            delay, fault = self.faults._take(method, path)
            if delay and self._stopping.wait(delay):
                response = None  # stopping: give up on the delayed request
            elif fault is None:
                request = Request(
                    method=method,
                    path=path,
                    query=query,
                    content_type=headers.get("content-type", "").lower(),
                    body=body,
                    user=user,
                    now=time.time(),
                )
                response = upload_route(
                    request, store=self._store, config=self._writes
                ) or route(
                    request,
                    store=self._store,
                    users=self._users,
                    token_lifetime=self._token_lifetime,
                )
            elif fault.kind == "drop":
                response = None
            elif fault.kind == "fail":
                response = nest_error(fault.status, fault.message)
            else:
                response = Response(fault.status, fault.body, fault.content_type)
        except Exception as exc:  # a bug in the double: answer like NestJS, keep it
            with self._log_lock:
                self._errors.append(exc)
            response = internal_error()
        self._record(
            RecordedRequest(
                method=method,
                path=path,
                query=query,
                auth=auth.state,
                user=None if user is None else user.username,
                status=None if response is None else response.status,
            )
        )
        return response
