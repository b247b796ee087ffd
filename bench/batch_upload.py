"""POST Batch/Bulk benchmark: a generated bulk feed uploaded over HTTP to gunicorn (2 workers) on PostgreSQL.

Two feeds, on disjoint usage points of one bulk (half of the usage points granted, the rest owned
by customers who granted nothing): ``BENCH_UPLOAD_USAGE_POINTS`` (default 200) x ``BENCH_UPLOAD_DAYS``
(default 7) days of 15-minute readings (about 35 MB with ``bench.gen``'s entry shape), and one
``BENCH_UPLOAD_SCALE`` (default 10) times larger. For each it reports:

* the end-to-end time of the POST (first byte sent to the report read), and its ratio to raw lxml
  ``iterparse`` over the same bytes (``bench.espi.run_raw``, measured in the same run);
* accepted / rejected entries and readings written, as the report says;
* the gunicorn worker's peak memory (VmHWM from /proc) after a warm-up and after the upload, with a
  fresh server per feed so the high-water mark belongs to that feed.

Data goes to a dedicated database (``BENCH_UPLOAD_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/bench_upload``), dropped and re-created each run.
Results go to ``bench/out/batch_upload.json``. ``python -m bench batch_upload``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import gen
from bench.batch_feed import _env, _recreate_database
from bench.server import Workers, free_port, gunicorn

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PY = sys.executable
BULK_ID = "up1"


def _settings() -> dict:
    return {
        "database_url": os.environ.get(
            "BENCH_UPLOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_upload"
        ),
        "usage_points": int(os.environ.get("BENCH_UPLOAD_USAGE_POINTS", "200")),
        "days": int(os.environ.get("BENCH_UPLOAD_DAYS", "7")),
        "scale": int(os.environ.get("BENCH_UPLOAD_SCALE", "10")),
    }


# ---- data and feeds -----------------------------------------------------------------------------


def load(*, count: int) -> dict:
    """Create ``count`` usage points (one customer each), grant every other one to the bulk; return ids and a token."""
    import secrets
    from datetime import timedelta

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, set_token_value

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    from custodian import services as custodian_services
    from grants import services as grant_services
    from grants.models import ThirdParty

    scope = "FB=1_3_4_5_13_14_15_17_35_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000"
    tp, _ = grant_services.third_party_register(
        name="Bench uploader",
        redirect_uris="https://bench.example/callback",
        registered_scopes=[scope],
        lifecycle=ThirdParty.Lifecycle.PRODUCTION,
    )
    bulk = grant_services.bulk_user_create(third_party=tp, bulk_id=BULK_ID, name="Bench bulk")
    end = timezone.now() + timedelta(days=365)
    points = []
    for i in range(count):
        customer = custodian_services.retail_customer_create(username=f"up{i}", password="x" * 12, name=f"C{i}")
        point = custodian_services.usage_point_create(customer=customer, title=f"Meter {i}")
        if i % 2 == 0:
            grant_services.grant_create(
                customer=customer,
                third_party=tp,
                usage_points=[point],
                scope=f"{scope};BR={BULK_ID}",
                bulk_user=bulk,
                authorized_end=end,
            )
        points.append([point.public_id, str(point.uuid).upper()])
    raw = secrets.token_urlsafe(32)
    token = AccessToken(application=tp, user=None, scope=f"FB=35;BR={BULK_ID}", expires=end)
    set_token_value(token, raw)
    token.save()
    return {"token": raw, "points": points}


def write_feed(path: Path, *, points: list[list[str]], days: int, tag: str) -> int:
    """Write a bulk feed over ``points`` (public id, uuid) with ``bench.gen``; return its readings."""
    return gen.write_feed(
        path,
        days=days,
        tag=tag,
        points=[(public_id, uuid) for public_id, uuid in points],
        scope=f"Batch/Bulk/{BULK_ID}",
    )


# ---- server and client --------------------------------------------------------------------------


def _post(port: int, path: str, token: str, feed: Path) -> dict:
    size = feed.stat().st_size
    # The body goes out in 64 KiB blocks, as curl sends it (http.client's default is 8 KiB).
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800, blocksize=64 * 1024)
    started = time.perf_counter()
    with open(feed, "rb") as body:
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/atom+xml",
                "Content-Length": str(size),
                "Accept": "application/json",
            },
        )
        response = conn.getresponse()
        data = response.read()
    seconds = time.perf_counter() - started
    conn.close()
    report = json.loads(data) if data else {}
    return {"status": response.status, "seconds": round(seconds, 3), "bytes": size, "report": report}


def _serve_and_post(*, database_url: str, token: str, feed: Path, media: Path) -> dict:
    port = free_port()
    env = _env(database_url, port)
    env["DJANGO_MEDIA_ROOT"] = str(media)
    env["BATCH_MAX_BODY_BYTES"] = str(max(feed.stat().st_size + 1, 512 * 1024 * 1024))
    with gunicorn(env=env, port=port, timeout=1800) as server:
        # Warm both workers: imports, URL resolver, DB connection, the XSD (a tiny dry-run upload).
        warm_feed = media.parent / "warm.xml"
        warm_feed.write_text(
            '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:uuid:'
            f"{gen._id('warm', 'feed')[9:]}</id><title>w</title><updated>{gen.STAMP}</updated></feed>"
        )
        for _ in range(6):
            _post(port, f"/espi/1_1/resource/Batch/Bulk/{BULK_ID}?dry_run=1", token, warm_feed)
        workers = Workers(server.pid)
        result = _post(port, f"/espi/1_1/resource/Batch/Bulk/{BULK_ID}", token, feed)
        result.update(workers.growth())
        return result


def _subprocess_json(args: list[str], env: dict) -> dict:
    done = subprocess.run([PY, *args], cwd=REPO, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-3000:])
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()


def main() -> None:
    cfg = _settings()
    env = _env(cfg["database_url"])
    small, big = cfg["usage_points"], cfg["usage_points"] * cfg["scale"]
    print(
        f"database {cfg['database_url']}: feeds of {small} and {big} usage points x {cfg['days']} days "
        f"of 15-minute readings, half granted; load average {_loadavg()}",
        flush=True,
    )
    _recreate_database(cfg["database_url"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    started = time.perf_counter()
    loaded = _subprocess_json(["-m", "bench.batch_upload", "load", str(small + big)], env)
    print(f"loaded {small + big} usage points in {time.perf_counter() - started:.1f} s", flush=True)
    # Statistics as autovacuum would leave them on a loaded database: without them the planner guesses one
    # row per table and may walk every grant of the bulk where an index probe would do.
    subprocess.run(
        [PY, "manage.py", "dbshell", "--", "-c", "ANALYZE"], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
    )
    work = OUT / "batch_upload"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    feeds = (("1x", loaded["points"][:small]), (f"{cfg['scale']}x", loaded["points"][small:]))
    for run, (label, points) in enumerate(feeds):
        feed = work / f"feed_{label}.xml"
        readings = write_feed(
            feed, points=points, days=cfg["days"], tag=f"upload{run}-{label}"
        )  # distinct ids even at scale 1
        raw = _subprocess_json(["-m", "bench.espi", "raw", str(feed)], env)
        media = work / f"media_{label}"
        served = _serve_and_post(database_url=cfg["database_url"], token=loaded["token"], feed=feed, media=media)
        if served["status"] != 200:
            raise RuntimeError(f"upload answered {served['status']}: {str(served['report'])[:500]}")
        counts = served.pop("report")["counts"]
        row = {
            "feed": label,
            "usage_points": len(points),
            "readings_in_feed": readings,
            **served,
            "mb_per_s": round(served["bytes"] / served["seconds"] / 1e6, 1),
            "raw_iterparse_seconds": round(raw["seconds"], 3),
            "ratio_to_raw_iterparse": round(served["seconds"] / raw["seconds"], 2),
            "counts": counts,
            "load_average": _loadavg(),
        }
        rows.append(row)
        print(
            f"  {label:>4}: {row['bytes'] / 1e6:7.1f} MB, {counts['accepted']} accepted / {counts['rejected']} rejected "
            f"entries, {counts['readings_written']:,} readings written, end-to-end {row['seconds']:.2f} s "
            f"({row['mb_per_s']} MB/s) = {row['ratio_to_raw_iterparse']:.2f} x raw iterparse ({row['raw_iterparse_seconds']} s); "
            f"worker RSS {row['worker_rss_warm_mb']} -> {row['worker_rss_peak_mb']} MB (+{row['worker_rss_growth_mb']}); "
            f"load {row['load_average']}",
            flush=True,
        )
        feed.unlink()
        shutil.rmtree(media, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "batch_upload.json").write_text(json.dumps({"config": cfg, "results": rows}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        print(json.dumps(load(count=int(sys.argv[2]))))
    else:
        main()
