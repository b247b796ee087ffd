"""Real processes for fault tests: a gunicorn server on PostgreSQL, reached through a TCP proxy that can be cut."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.utils import timezone

REPO = Path(__file__).resolve().parents[2]
# Servers and proxies of these tests listen on 127.0.0.1 in this range.
PORTS = range(int(os.environ.get("FAULT_TEST_PORT_FIRST", "8400")), int(os.environ.get("FAULT_TEST_PORT_LAST", "8499")))


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop}")


def wait_until(condition, *, what: str, attempts: int = 300, pause: float = 0.05):
    """Poll ``condition`` (an outside event: a process, a socket) until it is true; fail after ``attempts``."""
    for _ in range(attempts):
        value = condition()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"timed out waiting for {what}")


class CuttableProxy:
    """A TCP proxy to PostgreSQL: ``cut()`` drops every connection and refuses new ones, as a dead database would."""

    def __init__(self, *, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):  # shutdown wakes the accept() of the other thread
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(5)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in selector.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()


class Server:
    """gunicorn serving the portal (one worker) against the test database, optionally through a proxy."""

    def __init__(self, *, db_port: int, media_root: Path, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings_dict = connection.settings_dict
        database_url = f"postgresql://{settings_dict['USER'] or 'postgres'}@127.0.0.1:{db_port}/{settings_dict['NAME']}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "custodian.settings",
            "DJANGO_MEDIA_ROOT": str(media_root),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_CONN_MAX_AGE": "60",
            "PYTHONUNBUFFERED": "1",
            "FAULT_CLOCK": timezone.now().isoformat(),
            **(env or {}),
        }
        if settings_dict.get("PASSWORD"):
            self.env["PGPASSWORD"] = settings_dict["PASSWORD"]
        self.args = [
            str(Path(sys.executable).with_name("gunicorn")),
            "custodian.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--timeout",
            "120",
            "--graceful-timeout",
            "2",
            "--no-control-socket",
            "--config",
            str(Path(__file__).with_name("gunicorn_conf.py")),
        ]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.args, cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        wait_until(self._up, what="gunicorn to listen", attempts=600)

    def _up(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {self.process.stderr.read().decode()[-2000:]}")
        try:
            requests.get(self.url + "/espi/1_1/resource/nothing", timeout=10)
        except requests.RequestException:
            return False
        return True

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def db_proxy() -> Iterator[CuttableProxy]:
    settings_dict = connection.settings_dict
    proxy = CuttableProxy(target=(settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))
    proxy.start()
    yield proxy
    proxy.cut()


@pytest.fixture
def media_root(tmp_path, settings) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root
