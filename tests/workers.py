"""Real Celery worker processes for tests, on Redis and on the test database pytest-django created.

The broker is Redis database ``TEST_CELERY_BROKER_DB`` (default 8), results in
``TEST_CELERY_RESULT_DB`` (default 9), on ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``);
each test gets its own queue, so nothing else on that Redis is touched. Workers reach the test
database through ``DATABASE_URL``: on PostgreSQL the ``test_...`` database, on SQLite the file the
root conftest puts the test database in (an in-memory database cannot be shared with a process).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.db import connection
from django.utils import timezone
from kombu import pools as kombu_pools

from custodian.celery import app

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
BROKER_URL = f"{REDIS_URL}/{os.environ.get('TEST_CELERY_BROKER_DB', '8')}"
RESULT_URL = f"{REDIS_URL}/{os.environ.get('TEST_CELERY_RESULT_DB', '9')}"
ROOT = Path(__file__).resolve().parent.parent


def worker_database_url() -> str:
    """Return a DATABASE_URL that names the test database this process uses."""
    settings = connection.settings_dict
    name = str(settings["NAME"])
    if connection.vendor == "sqlite":
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("Worker tests need the SQLite test database in a file (see tests/conftest.py).")
        return f"sqlite:///{Path(name).resolve()}"
    user = quote(settings.get("USER") or "")
    password = quote(settings.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgresql://{auth}{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}/{quote(name)}"


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Workers:
    """Start, stop and kill worker (and beat) processes that serve this test's own queue."""

    queue: str
    workdir: Path
    env: dict[str, str]
    started: list[Worker] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Worker:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.celery_worker", timezone.now().isoformat(), "-A", "custodian", *args],
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        worker = Worker(name=name, process=process, log=log)
        self.started.append(worker)
        return worker

    def start(
        self,
        name: str = "w1",
        *,
        pool: str = "solo",
        concurrency: int = 1,
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> Worker:
        """Start ``celery -A custodian worker`` on this test's queue; by default wait until it is ready."""
        hostname = f"{name}-{self.queue}@localhost"
        worker = self._spawn(
            name,
            [
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                f"--hostname={hostname}",
                "--queues",
                self.queue,
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            extra_env=env,
        )
        if wait:
            self.wait_for(worker, "ready.")
        return worker

    def start_beat(self, name: str = "beat", *, env: dict[str, str] | None = None) -> Worker:
        """Start ``celery -A custodian beat`` with a schedule file of its own (``env``: settings to change)."""
        return self._spawn(
            name, ["beat", "--schedule", str(self.workdir / "beat-schedule"), "--max-interval=1"], extra_env=env
        )

    def wait_for(self, worker: Worker, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in worker.output():
                return
            if worker.process.poll() is not None:
                raise AssertionError(f"{worker.name} exited:\n{worker.output()[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{worker.name} did not log {text!r} within {timeout}s:\n{worker.output()[-4000:]}")

    def kill(self, worker: Worker) -> None:
        """SIGKILL a worker and everything it started: no warm shutdown, nothing acknowledged."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=30)

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                try:
                    os.killpg(worker.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for worker in self.started:
            try:
                worker.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(worker)


def _reset_app_connections() -> None:
    # The app caches its connection pool and result backend; drop them when the broker changes.
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    app._local.__dict__.pop("backend", None)
    # kombu keeps its own registry of producer pools per connection: a later test on the same broker
    # URL would otherwise get the pool closed above ("Acquire on closed pool").
    kombu_pools.reset()


def use_real_broker(*, queue: str, visibility_timeout: int) -> dict[str, object]:
    """Point this process's Celery app at Redis and ``queue``; return what to restore."""
    saved = {
        key: app.conf.get(key)
        for key in (
            "task_always_eager",
            "broker_url",
            "result_backend",
            "task_default_queue",
            "broker_transport_options",
        )
    }
    app.conf.update(
        task_always_eager=False,
        broker_url=BROKER_URL,
        result_backend=RESULT_URL,
        task_default_queue=queue,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
    )
    _reset_app_connections()
    return saved


def restore_broker(saved: dict[str, object], *, queue: str) -> None:
    """Drop this test's queue from Redis and put the eager configuration back."""
    try:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
            conn.default_channel.client.delete(queue)
    except Exception:  # noqa: S110 - the queue may never have been declared
        pass
    app.conf.update(saved)
    _reset_app_connections()


def new_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def worker_env(*, queue: str, visibility_timeout: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "PYTEST_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "custodian.settings",
            "DATABASE_URL": worker_database_url(),
            "DJANGO_CONN_MAX_AGE": "0",
            "DJANGO_DEBUG": "1",
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_RESULT_BACKEND": RESULT_URL,
            "CELERY_QUEUE": queue,
            "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(visibility_timeout),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env
