"""Asynchronous GET Batch/Bulk benchmark: gunicorn answers 202, real Celery workers build the parts.

For each bulk size (``BENCH_ASYNC_SIZES``, default ``100,300`` usage points) x ``BENCH_ASYNC_DAYS``
(default 30) days of 15-minute readings, the same request (``Prefer: respond-async``) is built with
1 and with 2 worker processes (``celery -A custodian worker --pool=solo``, one process each), and it
reports:

* time to 202 (the HTTP round trip of the request, planning included);
* build time (the job's ``requested_at`` to ``finished_at``), total MB, MB/s per worker;
* the ratio of the 1-worker time to the 2-worker time (2.0 would be perfect on two free cores);
* peak worker memory: each worker's VmHWM from /proc after warm-up and after the job; flat in the
  bulk size because a worker holds one entry and one range's bookkeeping at a time.

``--full`` (or ``BENCH_ASYNC_FULL=1``) runs it at 20,000 usage points with 30 days (57.6 million
readings; loading takes a while). Data goes to ``BENCH_ASYNC_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/bench_bulk_async``), dropped and re-created; the broker is
``BENCH_ASYNC_BROKER_URL`` (default ``redis://127.0.0.1:6379/15``) with a queue of this run's own.
Results go to ``bench/out/bulk_async.json``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from bench.batch_feed import READINGS_PER_DAY, _env, _recreate_database, _subprocess_json
from bench.server import _peak_kb, free_port, gunicorn

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PY = sys.executable


def _settings(argv: list[str]) -> dict:
    full = "--full" in argv or os.environ.get("BENCH_ASYNC_FULL", "") in {"1", "true", "yes"}
    sizes = "20000" if full else os.environ.get("BENCH_ASYNC_SIZES", "100,300")
    return {
        "database_url": os.environ.get(
            "BENCH_ASYNC_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_bulk_async"
        ),
        "broker_url": os.environ.get("BENCH_ASYNC_BROKER_URL", "redis://127.0.0.1:6379/15"),
        "sizes": sorted(int(s) for s in sizes.split(",") if s.strip()),
        "days": 30 if full else int(os.environ.get("BENCH_ASYNC_DAYS", "30")),
        # Ranges per job: enough for two workers to share the work evenly.
        "ranges": int(os.environ.get("BENCH_ASYNC_RANGES", "8")),
        "workers": [1, 2],
        "full": full,
    }


def _database(database_url: str):
    import psycopg

    return psycopg.connect(database_url, autocommit=True)


def _forget_jobs(database_url: str) -> None:
    # Each run must build: an identical request within BATCH_RESULT_DAYS would get the stored result.
    with _database(database_url) as conn:
        conn.execute("DELETE FROM batch_bulkpart_grants")
        conn.execute("DELETE FROM batch_bulkpart")
        conn.execute("DELETE FROM batch_bulkjobrange")
        conn.execute("DELETE FROM batch_bulkjob")


def _job(database_url: str, correlation_id: str) -> tuple[str, float | None, int, int]:
    with _database(database_url) as conn:
        row = conn.execute(
            "SELECT status, EXTRACT(EPOCH FROM finished_at - requested_at), bytes,"
            " (SELECT count(*) FROM batch_bulkpart p WHERE p.job_id = j.id)"
            " FROM batch_bulkjob j WHERE correlation_id = %s",
            [correlation_id],
        ).fetchone()
    status, seconds, size, parts = row
    return status, float(seconds) if seconds is not None else None, int(size), int(parts)


@contextmanager
def _celery_workers(*, count: int, env: dict, logdir: Path):
    processes = []
    logs = []
    try:
        for n in range(count):
            log = logdir / f"worker{n}.log"
            logs.append(log)
            with log.open("wb") as handle:
                processes.append(
                    subprocess.Popen(
                        [
                            PY,
                            "-m",
                            "celery",
                            "-A",
                            "custodian",
                            "worker",
                            "--pool=solo",
                            "--concurrency=1",
                            f"--hostname=bench{n}-{uuid.uuid4().hex[:6]}@localhost",
                            "--queues",
                            env["CELERY_QUEUE"],
                            "--without-gossip",
                            "--without-mingle",
                            "--loglevel=INFO",
                        ],  # fmt: skip
                        cwd=REPO,
                        env=env,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 60
        for process, log in zip(processes, logs, strict=True):
            while "ready." not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text(errors="replace")[-3000:])
                time.sleep(0.1)
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _request(port: int, path: str, token: str) -> tuple[int, dict, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"})
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    conn.close()
    return response.status, json.loads(body or b"{}"), seconds


def _run(cfg: dict, *, size: int, workers: int, token: str) -> dict:
    _forget_jobs(cfg["database_url"])
    queue = f"bench-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="bench-async-") as tmp:
        env = {
            **_env(cfg["database_url"]),
            "CELERY_BROKER_URL": cfg["broker_url"],
            "CELERY_RESULT_BACKEND": cfg["broker_url"],
            "CELERY_QUEUE": queue,
            "BATCH_RESULTS_DIR": str(Path(tmp) / "results"),
            "BATCH_RANGE_USAGE_POINTS": str(max(1, -(-size // cfg["ranges"]))),
        }
        port = free_port()
        env["PORTAL_BASE_URL"] = f"http://127.0.0.1:{port}"
        with gunicorn(env=env, port=port, timeout=600), _celery_workers(count=workers, env=env, logdir=Path(tmp)) as ps:
            # Warm both web workers (imports, URL resolver, database connection) before timing the 202.
            for _ in range(4):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request(
                    "GET", "/espi/1_1/resource/ReadServiceStatus", headers={"Authorization": f"Bearer {token}"}
                )
                conn.getresponse().read()
                conn.close()
            warm = {p.pid: _peak_kb(p.pid) for p in ps}
            status, body, to_202 = _request(port, f"/espi/1_1/resource/Batch/Bulk/n{size}", token)
            if status != 202:
                raise RuntimeError(f"Batch/Bulk answered {status}: {body}")
            deadline = time.monotonic() + 6 * 3600
            while True:
                state, seconds, total, parts = _job(cfg["database_url"], body["correlationID"])
                if state == "ready" and seconds is not None:
                    break
                if state != "building" or time.monotonic() > deadline:
                    raise RuntimeError(f"job ended {state}")
                time.sleep(0.2)
            peaks = {p.pid: _peak_kb(p.pid) for p in ps}
    return {
        "usage_points": size,
        "workers": workers,
        "time_to_202_ms": round(to_202 * 1000, 1),
        "build_seconds": round(seconds, 2),
        "mb": round(total / 1e6, 1),
        "parts": parts,
        "mb_per_s_per_worker": round(total / 1e6 / seconds / workers, 2),
        "worker_rss_warm_mb": round(max(warm.values()) / 1024, 1),
        "worker_rss_peak_mb": round(max(peaks.values()) / 1024, 1),
        "worker_rss_growth_mb": round(max(peaks[pid] - warm[pid] for pid in peaks) / 1024, 1),
    }


def main(argv: list[str] | None = None) -> None:
    cfg = _settings(argv if argv is not None else sys.argv[1:])
    env = _env(cfg["database_url"])
    print(
        f"database {cfg['database_url']}, sizes {cfg['sizes']}, {cfg['days']} days of 15-minute readings, "
        f"{cfg['ranges']} ranges per job, workers {cfg['workers']}",
        flush=True,
    )
    _recreate_database(cfg["database_url"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    loaded = _subprocess_json(["load", ",".join(map(str, cfg["sizes"])), str(cfg["days"])], env)
    print(
        f"loaded {loaded['readings']:,} readings for {loaded['usage_points']} usage points in {loaded['load_seconds']} s",
        flush=True,
    )
    rows = []
    for size in cfg["sizes"]:
        runs = {n: _run(cfg, size=size, workers=n, token=loaded["token"]) for n in cfg["workers"]}
        one, two = runs[1], runs[2]
        ratio = round(one["build_seconds"] / two["build_seconds"], 2)
        for run in runs.values():
            print(
                f"  {size:>5} UPs x {cfg['days']} d, {run['workers']} worker(s): 202 in {run['time_to_202_ms']:.0f} ms, "
                f"built {run['mb']} MB in {run['parts']} parts in {run['build_seconds']} s = "
                f"{run['mb_per_s_per_worker']} MB/s per worker, worker peak RSS {run['worker_rss_warm_mb']} -> "
                f"{run['worker_rss_peak_mb']} MB (+{run['worker_rss_growth_mb']})",
                flush=True,
            )
        print(f"  {size:>5} UPs: 2 workers vs 1: {ratio:.2f}x faster", flush=True)
        rows.append(
            {
                "usage_points": size,
                "readings": size * cfg["days"] * READINGS_PER_DAY,
                "runs": runs,
                "ratio_2_to_1": ratio,
            }
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bulk_async.json").write_text(json.dumps({"config": cfg, "load": loaded, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
