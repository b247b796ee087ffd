"""Serve the portal with gunicorn for a benchmark and read its workers' peak memory from /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    """Return a free local port: the first free one in ``BENCH_PORTS`` (``8700-8799``) if set, else any."""
    first, _, last = os.environ.get("BENCH_PORTS", "0-0").partition("-")
    for port in range(int(first), int(last or first) + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Workers:
    """The server's worker processes, with their peak RSS when warm and after the measurement."""

    def __init__(self, server_pid: int) -> None:
        self.pids = _children(server_pid)
        self.warm = {pid: _peak_kb(pid) for pid in self.pids}

    def growth(self) -> dict[str, float]:
        """Return warm, peak and growth (MB) of the worker whose peak grew most since warm-up."""
        peak = {pid: _peak_kb(pid) for pid in self.pids}
        busiest = max(self.pids, key=lambda pid: peak[pid] - self.warm[pid])
        return {
            "worker_rss_warm_mb": round(self.warm[busiest] / 1024, 1),
            "worker_rss_peak_mb": round(peak[busiest] / 1024, 1),
            "worker_rss_growth_mb": round((peak[busiest] - self.warm[busiest]) / 1024, 1),
        }


@contextmanager
def gunicorn(*, env: dict, port: int, timeout: int, workers: int = 2) -> Iterator[subprocess.Popen]:
    """Run ``gunicorn custodian.wsgi`` with ``workers`` workers (2) on ``port`` until the block ends."""
    server = subprocess.Popen(
        [
            GUNICORN,
            "custodian.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            str(timeout),
            "--no-control-socket",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(
                        server.stderr.read().decode()[-2000:] if server.stderr else "no server"
                    ) from None
                time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
