"""HTTP/1.1 transport of the fake SciCat server: stdlib threads, real sockets.

One thread accepts connections (woken by a socket pair to stop, so stopping
is immediate); each connection gets its own thread and may carry many
requests (keep-alive). Every answer is written in one piece with
its ``Content-Length``. :meth:`HttpServer.close` stops accepting, cuts every
open connection and joins every thread, so nothing outlives the server.

The transport knows nothing about SciCat: it hands each request to a
:class:`Handler` and writes back what that returns (or drops the connection).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from ._routes import Response, nest_error

__all__ = ["MAX_BODY", "Handler", "HttpServer"]

#: Largest request body accepted by default: SciCat's ``json({limit: "16mb"})``.
MAX_BODY = 16 << 20
#: Most bytes of a too-large body read (and dropped) before answering 413, so
#: the client sees the answer instead of a reset connection (as a proxy's
#: lingering close does).
_DRAIN_LIMIT = 256 << 20
#: Idle keep-alive connections are closed after this many seconds.
_IDLE_TIMEOUT = 60.0
#: Bodies up to this size are sent in the same write as the head.
_COALESCE = 1 << 16


class Handler(Protocol):
    """Answers one request; ``None`` means: close the connection, no answer."""

    def __call__(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response | None: ...


#: ``on_refused(method, target, headers, response)``: told of a request the
#: transport answered itself (a body it could not or would not read).
Refused = Callable[[str, str, dict[str, str], Response], None]


class _BadRequest(Exception):
    """A request body the transport cannot read (private to this module)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server: _TCPServer

    def setup(self) -> None:
        super().setup()
        # One write per answer, and no Nagle delay between head and body.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (tests inspect the request log)."""

    def _dispatch(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = self._read_body(headers)
        except _BadRequest as exc:
            self.close_connection = True
            if self.server.on_refused is not None:
                self.server.on_refused(self.command, self.path, headers, exc.response)
            self._send(exc.response)
            return
        response = self.server.handler(self.command, self.path, headers, body)
        if response is None:
            self.close_connection = True  # drop: no answer at all
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        raw = headers.get("content-length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise _BadRequest(nest_error(400, "Invalid Content-Length")) from None
        if length < 0:
            raise _BadRequest(nest_error(400, "Invalid Content-Length"))
        if length > self.server.max_body:
            self._drain(length)
            raise _BadRequest(nest_error(413, "request entity too large"))
        return self.rfile.read(length)

    def _drain(self, length: int) -> None:
        left = min(length, _DRAIN_LIMIT)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                return
            left -= len(chunk)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(nest_error(400, "Invalid chunk size")) from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > self.server.max_body:
                raise _BadRequest(nest_error(413, "request entity too large"))
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: Response) -> None:
        status = HTTPStatus(response.status)
        lines = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            f"Date: {formatdate(usegmt=True)}",
        ]
        if response.content_type is not None:
            lines.append(f"Content-Type: {response.content_type}")
        lines.append(f"Content-Length: {len(response.body)}")
        lines.append(
            "Connection: close" if self.close_connection else "Connection: keep-alive"
        )
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = b"" if self.command == "HEAD" else response.body
        try:
            if len(body) <= _COALESCE:
                self.wfile.write(head + body)
            else:
                self.wfile.write(head)
                self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client went away


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(
        self, handler: Handler, max_body: int, on_refused: Refused | None
    ) -> None:
        self.handler = handler
        self.max_body = max_body
        self.on_refused = on_refused
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        #: Every connection thread that may still run: a thread leaves
        #: ``_connections`` a moment before it ends, and must still be joined.
        self._started: list[threading.Thread] = []
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered here, on the accepting thread, so close() sees every
        # connection, even one whose thread has not started running yet.
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="alink-scicat-connection",
            daemon=True,
        )
        with self._lock:
            self._connections[request] = thread
            self._started = [t for t in self._started if t.is_alive()]
            self._started.append(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Transport errors (a client hanging up) are normal here; stay quiet."""

    def cut_connections(self) -> list[threading.Thread]:
        """Shut down every open connection; return every thread to join."""
        with self._lock:
            sockets = list(self._connections)
            threads = list(self._started)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by the client
                sock.shutdown(socket.SHUT_RDWR)
        return threads


class HttpServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with a random free port."""

    def __init__(
        self,
        handler: Handler,
        *,
        on_stop: Callable[[], None],
        max_body: int = MAX_BODY,
        on_refused: Refused | None = None,
    ) -> None:
        self._tcp = _TCPServer(handler, max_body, on_refused)
        self._tcp.socket.setblocking(False)
        self._on_stop = on_stop
        # Writing to this pair wakes the accept loop at once (no polling).
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(
            target=self._accept_loop, name="alink-scicat-server", daemon=True
        )
        self._thread.start()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._tcp.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_r in ready:
                    return
                try:
                    request, address = self._tcp.get_request()
                except OSError:
                    continue  # the client gave up before we accepted
                try:
                    request.setblocking(True)
                    self._tcp.process_request(request, address)
                except Exception:  # e.g. no thread could be started
                    self._tcp.shutdown_request(request)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._tcp.server_address[1])

    def close(self, timeout: float = 10.0) -> list[threading.Thread]:
        """Stop accepting, cut open connections, join all threads.

        Returns the threads still alive after ``timeout`` (normally none).
        """
        self._on_stop()  # wake handlers sleeping in an injected delay
        self._wake_w.send(b"x")
        self._thread.join(timeout)
        threads = self._tcp.cut_connections()
        self._tcp.server_close()
        self._wake_r.close()
        self._wake_w.close()
        for thread in threads:
            thread.join(timeout)
        return [t for t in [self._thread, *threads] if t.is_alive()]
