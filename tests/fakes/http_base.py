"""A scriptable HTTP server on 127.0.0.1 for the provider tests.

Guarantees: every request is recorded (method, path, lower-cased headers, body and its
parsed JSON) before it is answered; replies are taken from a queue in arrival order; a
request with no reply queued gets a 500 that says so (and is counted in
``unexpected``). ``stop()`` (or leaving the ``with`` block) ends hung and kept-alive
connections, so no handler outlives the server.

Failure modes, all per reply (``Canned``): any status with any headers and body; a
delay before answering; an event stream sent as HTTP/1.1 chunks, optionally with a
delay between events and broken off (socket closed, no final chunk) after N events; a
hang (headers never sent) until the server stops; and holding a reply until N requests
are in flight at once (proves that clients run concurrently, without timing).

Built on ``http.server.ThreadingHTTPServer``: one thread per connection, which is a
greenlet when gevent's monkey patching is active (the test suite patches).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["Canned", "FakeServer", "RecordedRequest", "sse"]

PEER_WAIT = 5.0  # seconds a reply waits for its peers before answering 500


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event frame; ``data`` is JSON-encoded unless it is a str."""
    text = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return (head + "".join(f"data: {line}\n" for line in text.split("\n")) + "\n").encode()


@dataclass
class Canned:
    """One scripted reply.

    Attributes:
        status: the HTTP status.
        headers: extra response headers.
        body: the body of a plain reply.
        events: SSE frames: the reply is then an event stream sent in chunks.
        break_after: with ``events``, close the socket after sending this many (the
            body never ends, even when that is all of them).
        event_delay: seconds to wait before each event.
        delay: seconds to wait before answering.
        hang: never answer (until the server stops).
        peers: hold the reply until this many requests are in flight together.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    events: list[bytes] | None = None
    break_after: int | None = None
    event_delay: float = 0.0
    delay: float = 0.0
    hang: bool = False
    peers: int = 0

    @classmethod
    def json(cls, data: Any, status: int = 200, **options: Any) -> Canned:
        headers = {"Content-Type": "application/json", **options.pop("headers", {})}
        return cls(status=status, headers=headers, body=json.dumps(data).encode(), **options)


@dataclass
class RecordedRequest:
    """A request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read ``requests`` instead

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake = self.server.fake
        reply = fake._arrived(fake._recorded(self.command, self.path, headers, body))
        try:
            self._send(reply)
        finally:
            fake._left()

    def _send(self, reply: Canned) -> None:
        fake = self.server.fake
        if reply.peers and not fake._wait_for_peers(reply.peers):
            reply = Canned.json({"error": f"fake: {reply.peers} requests never ran together"}, 500)
        if reply.delay and fake.stopping.wait(reply.delay):
            return self._abort()
        if reply.hang:
            fake.stopping.wait()
            return self._abort()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.events is None:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return None
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, frame in enumerate(reply.events):
            if reply.break_after is not None and index >= reply.break_after:
                return self._abort()
            if reply.event_delay and fake.stopping.wait(reply.event_delay):
                return self._abort()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        if reply.break_after is not None:
            return self._abort()  # all sent, but the body never ends
        self.wfile.write(b"0\r\n\r\n")
        return None

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handlers
    request_queue_size = 128

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self.connections_lock:
            if add:
                self.open_connections.add(connection)
                self.fake.connections += 1
            else:
                self.open_connections.discard(connection)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FakeServer:
    """A local HTTP server answering from a queue of ``Canned`` replies.

    Use as a context manager (or ``start()``/``stop()``). ``requests`` lists what
    arrived; ``connections`` counts the connections accepted; ``max_in_flight`` is the
    most requests ever answered at the same time.
    """

    def __init__(self) -> None:
        self.replies: deque[Canned] = deque()
        self.requests: list[RecordedRequest] = []
        self.unexpected = 0
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self._changed = threading.Condition()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --

    def start(self) -> Self:
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the fake server is not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting --

    def push(self, *replies: Canned) -> None:
        """Queues replies, answered in the order requests arrive."""
        with self._changed:
            self.replies.extend(replies)

    def push_many(self, replies: Iterable[Canned]) -> None:
        self.push(*replies)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Blocks until ``count`` requests arrived; returns them all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"expected {count} requests within {timeout} s, got {len(self.requests)}"
                )
            return list(self.requests)

    @property
    def last(self) -> RecordedRequest:
        """The latest request (fails when none arrived)."""
        assert self.requests, "no request reached the fake server"
        return self.requests[-1]

    # -- called by the handlers; a vendor's fake may override the first two --

    def _recorded(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        """What ``requests`` keeps of a request."""
        return RecordedRequest(method, path, headers, body)

    def _next_reply(self, request: Any) -> Canned | None:
        """The reply to ``request``, None when none is queued. Called under the lock."""
        return self.replies.popleft() if self.replies else None

    def _arrived(self, request: Any) -> Canned:
        with self._changed:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._changed.notify_all()
            reply = self._next_reply(request)
            if reply is not None:
                return reply
            self.unexpected += 1
        message = f"fake server has no reply queued for {request.method} {request.path}"
        return Canned.json({"error": {"message": message, "type": "fake_error"}}, 500)

    def _left(self) -> None:
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def _wait_for_peers(self, peers: int) -> bool:
        with self._changed:
            together = self._changed.wait_for(
                lambda: self.max_in_flight >= peers or self.stopping.is_set(), PEER_WAIT
            )
            return together and not self.stopping.is_set()
