"""A real HTTP receiver on loopback standing in for a Third Party's thirdPartyNotifyUri."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests import factories


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the loopback Third Party received, and how it answers (``status`` or ``respond``)."""

    base_url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    respond: Callable[[Received], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def uri(self, name: str = "notify") -> str:
        return f"{self.base_url}/{name}"

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [item.body for item in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            item = Received(path=self.path, headers=dict(self.headers.items()), body=self.rfile.read(length))
            with receiver.lock:
                receiver.received.append(item)
            if receiver.respond is not None:
                receiver.respond(item)
            self.send_response(receiver.status)
            for name, value in receiver.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Start an HTTP server on 127.0.0.1, on a free port, for the duration of one test."""
    holder = Receiver(base_url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def debug_on(settings):
    """Allow plain-http notify URIs (the loopback receiver); outside DEBUG only https is allowed."""
    settings.DEBUG = True
    return settings


@pytest.fixture
def notified_party(receiver):
    third_party, _secret = factories.make_third_party(name="Notified Co", notify_uri=receiver.uri())
    return third_party
