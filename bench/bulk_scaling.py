"""Bulk scaling benchmark: what a request costs as the bulk it names grows 10x.

One Third Party with one bulk per size (``BENCH_SCALING_SIZES``, default ``1000,10000`` member
customers, each one usage point with one day of 15-minute readings; ``--large`` adds 100000), built
with ``bulk_create`` in a dedicated database (``BENCH_SCALING_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/bench_scaling``, dropped and re-created each run), served by
gunicorn (2 workers, the deploy settings). For each size it times, median of
``BENCH_SCALING_REPEAT`` (default 5) requests after two warm-up rounds, the sizes interleaved:

* ``POST Batch/Bulk/{id}`` of one member's one-day IntervalBlock (the upload path, ``bench.gen``'s feed);
* ``GET Batch/Bulk/{id}``: the first page, and the last page as a client reaches it by following
  ``next`` links (its sealed cursor), and, for comparison, the last page asked by ``start-index``
  alone (OFFSET);
* ``GET ReadServiceStatus`` with the same client token;

and, last (it changes the data), one batch of the grant expiry sweep (``grants.services.grant_expire_batch``,
``GRANT_SWEEP_BATCH_SIZE`` grants) over each bulk's members, in-process; then prints, for each path, the ratio between consecutive sizes (the aim: at most 1.5 for 10x the
members); then revokes the Third Party, which holds every bulk's grants, as the admin action does, and
times the action and each batch of its sweep (``grants.services.third_party_lifecycle_sweep_batch``).
Results go to ``bench/out/bulk_scaling.json``.

``python -m bench bulk_scaling`` (``make bench``); ``python -m bench.bulk_scaling [--large]``;
``python -m bench.bulk_scaling load SIZE...`` is the subprocess entry point.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import gen
from bench.batch_feed import _env, _recreate_database
from bench.server import free_port, gunicorn

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PY = sys.executable
PAGE = 500
READINGS_PER_DAY = 96
INTERVAL = 900
SCOPE = "FB=1_3_4_5_13_14_15_17_35_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000"


def _settings(argv: list[str]) -> dict:
    sizes = sorted(int(s) for s in os.environ.get("BENCH_SCALING_SIZES", "1000,10000").split(",") if s.strip())
    if "--large" in argv and 100_000 not in sizes:
        sizes.append(100_000)
    return {
        "database_url": os.environ.get(
            "BENCH_SCALING_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_scaling"
        ),
        "sizes": sizes,
        "repeat": max(1, int(os.environ.get("BENCH_SCALING_REPEAT", "5"))),
    }


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# ---- data ---------------------------------------------------------------------------------------


def load(*, sizes: list[int]) -> dict:
    """Build one bulk per size with bulk_create; return the token, each bulk's upload target and last-page cursor."""
    import secrets
    from datetime import UTC, timedelta

    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, set_token_value

    from batch.cursors import bulk_cursor_seal
    from custodian.models import (
        IntervalBlock,
        LocalTimeParameters,
        MeterReading,
        ReadingType,
        RetailCustomer,
        UsagePoint,
        User,
    )
    from custodian.models import new_public_id as public_id
    from grants import services as grant_services
    from grants.models import Grant, GrantUsagePoint, ThirdParty

    started = time.perf_counter()
    tp, _ = grant_services.third_party_register(
        name="Bench Scaling",
        redirect_uris="https://bench.example/callback",
        registered_scopes=[SCOPE],
        lifecycle=ThirdParty.Lifecycle.PRODUCTION,
    )
    # The bench measures cost, not the Third Party's rate limits.
    ThirdParty.objects.filter(pk=tp.pk).update(
        rate_limit_per_second=1_000_000, rate_limit_per_hour=1_000_000_000, rate_limit_per_day=1_000_000_000
    )
    unusable = make_password(None)  # bench customers never log in
    rt = ReadingType.objects.create(title="Wh 15 min", uom=72, kind=12, interval_length=INTERVAL, commodity=1)
    ltp = LocalTimeParameters.objects.create(
        dst_end_rule="B40E2000", dst_offset=3600, dst_start_rule="360E2000", tz_offset=-28800
    )
    now = timezone.now()
    end = now + timedelta(days=365)
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    day_start = int(day.timestamp())
    bulks = {}
    for size in sizes:
        bulk = grant_services.bulk_user_create(third_party=tp, bulk_id=f"s{size}", name=f"{size} members")
        # One member through the service, as a template of a real grant; the rest copied in bulk.
        first_customer = RetailCustomer.objects.create(
            user=User.objects.create(username=f"s{size}-0", password=unusable), name="C0"
        )
        first_point = UsagePoint.objects.create(customer=first_customer, title="Home", local_time_parameters=ltp)
        template = grant_services.grant_create(
            customer=first_customer,
            third_party=tp,
            usage_points=[first_point],
            scope=f"{SCOPE};BR={bulk.bulk_id}",
            bulk_user=bulk,
            authorized_end=end,
        )
        with transaction.atomic():
            users = User.objects.bulk_create(
                [User(username=f"s{size}-{i}", password=unusable) for i in range(1, size)], batch_size=2000
            )
            customers = RetailCustomer.objects.bulk_create(
                [RetailCustomer(user=user, name=f"C{i}") for i, user in enumerate(users, 1)], batch_size=2000
            )
            points = UsagePoint.objects.bulk_create(
                [UsagePoint(customer=c, title="Home", local_time_parameters=ltp) for c in customers], batch_size=2000
            )
            copied = {
                name: getattr(template, name)
                for name in (
                    "third_party_id",
                    "bulk_user_id",
                    "scope",
                    "function_blocks",
                    "interval_duration",
                    "block_duration",
                    "history_length",
                    "authorized_start",
                    "authorized_end",
                    "status",
                )
            }
            grants = Grant.objects.bulk_create(
                [Grant(customer=c, public_id=public_id(), subscription_id=public_id(), **copied) for c in customers],
                batch_size=2000,
            )
            GrantUsagePoint.objects.bulk_create(
                [GrantUsagePoint(grant=g, usage_point=p) for g, p in zip(grants, points, strict=True)], batch_size=2000
            )
            all_points = [first_point, *points]
            readings = MeterReading.objects.bulk_create(
                [MeterReading(usage_point=p, reading_type=rt, title="Energy") for p in all_points], batch_size=2000
            )
            blocks = []
            for n, mr in enumerate(readings):
                block = IntervalBlock(
                    meter_reading=mr, start=day_start, duration=86400, published=day, updated=day + timedelta(hours=1)
                )
                block.set_readings(
                    (day_start + slot * INTERVAL, INTERVAL, 200 + (n * 7 + slot) % 900, None, None, None)
                    for slot in range(READINGS_PER_DAY)
                )
                blocks.append(block)
            IntervalBlock.objects.bulk_create(blocks, batch_size=2000)
        ids = sorted(p.pk for p in all_points)
        last_start = ((len(ids) - 1) // PAGE) * PAGE  # 0-based position of the last page's first usage point
        middle = all_points[len(all_points) // 2]
        bulks[size] = {
            "bulk_id": bulk.bulk_id,
            "last_start_index": last_start + 1,
            # What the client following next links holds for the last page.
            "last_cursor": bulk_cursor_seal(
                bulk_user_id=bulk.pk, start_index=last_start + 1, after_usage_point_id=ids[last_start - 1]
            )
            if last_start
            else "",
            "upload_point": [middle.public_id, str(middle.uuid).upper()],
        }
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    raw = secrets.token_urlsafe(32)
    token = AccessToken(application=tp, user=None, scope="FB=3_35", expires=end)
    set_token_value(token, raw)
    token.save()
    return {"token": raw, "bulks": bulks, "load_seconds": round(time.perf_counter() - started, 1)}


def sweep(*, sizes: list[int], repeat: int) -> dict:
    """Time one expiry batch over each bulk's grants (made due first); return size -> median ms and grants per batch."""
    from datetime import timedelta

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from grants.models import Grant
    from grants.services import grant_expire_batch

    results = {}
    for size in sizes:
        times, done = [], 0
        for _ in range(repeat):
            # The bulk's grants all active and due again, then one batch of them timed.
            now = timezone.now()
            Grant.objects.filter(bulk_user__bulk_id=f"s{size}").update(
                status=Grant.Status.ACTIVE,
                authorized_start=now - timedelta(days=2),
                authorized_end=now - timedelta(days=1),
            )
            with connection.cursor() as cursor:  # the reset's dead rows are the bench's, not the sweep's
                cursor.execute(f"VACUUM ANALYZE {Grant._meta.db_table}")
            started = time.perf_counter()
            done = grant_expire_batch(moment=now, batch_size=settings.GRANT_SWEEP_BATCH_SIZE)
            times.append(time.perf_counter() - started)
        results[size] = {"ms": round(statistics.median(times) * 1000, 1), "grants_per_batch": done}
        Grant.objects.filter(bulk_user__bulk_id=f"s{size}").update(status=Grant.Status.EXPIRED)
    return results


def revoke() -> dict:
    """Revoke the bench's Third Party as the admin action does, then run its sweep batch by batch, timed.

    Every member grant of every bulk is made active again first (the expiry step above expired them),
    so the Third Party holds the sum of the sizes' grants. The lifecycle change is one row (what a
    request checks at once); the row work is the sweep, one short transaction per
    ``GRANT_SWEEP_BATCH_SIZE`` grants, as the worker runs it (here in-process: the broker is an
    in-memory one nobody consumes, so the queued task does not also run).
    """
    from datetime import timedelta

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from grants import services as grant_services
    from grants.models import Grant, ThirdParty

    tp = ThirdParty.objects.get(name="Bench Scaling")
    now = timezone.now()
    grants = Grant.objects.filter(third_party=tp).update(
        status=Grant.Status.ACTIVE, authorized_start=now - timedelta(days=2), authorized_end=now + timedelta(days=365)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Grant._meta.db_table}")
    started = time.perf_counter()
    with transaction.atomic():
        grant_services.third_party_set_lifecycle(third_party=tp, lifecycle=ThirdParty.Lifecycle.REVOKED)
    action = time.perf_counter() - started
    batches: list[float] = []
    done = 0
    sweep_started = time.perf_counter()
    while True:
        batch_started = time.perf_counter()
        handled, finished = grant_services.third_party_lifecycle_sweep_batch(
            third_party_id=tp.pk, batch_size=settings.GRANT_SWEEP_BATCH_SIZE
        )
        batches.append(time.perf_counter() - batch_started)
        done += handled
        if finished:
            break
    left = Grant.objects.filter(third_party=tp, status=Grant.Status.ACTIVE).count()
    return {
        "grants": grants,
        "revoked": done,
        "left_active": left,
        "action_ms": round(action * 1000, 1),
        "batches": len(batches),
        "batch_ms_median": round(statistics.median(batches) * 1000, 1),
        "batch_ms_max": round(max(batches) * 1000, 1),
        "sweep_seconds": round(time.perf_counter() - sweep_started, 1),
    }


# ---- client -------------------------------------------------------------------------------------


def _request(port: int, method: str, path: str, token: str, body: bytes | None = None) -> tuple[int, float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/atom+xml"}
    if body is not None:
        headers.update({"Content-Type": "application/atom+xml", "Accept": "application/json"})
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    size = len(response.read())
    seconds = time.perf_counter() - started
    conn.close()
    return response.status, seconds, size


def _time_all(port: int, repeat: int, makers: dict[int, object], warm: int = 2) -> dict[int, dict]:
    """Time ``makers[size](i) -> (method, path, token, body)`` for every size, interleaved (A B A B ...).

    ``warm`` unmeasured rounds first (both workers); interleaving keeps a drift of the loaded
    machine's speed out of the ratio. Return size -> median ms and the body size.
    """
    times: dict[int, list[float]] = {size: [] for size in makers}
    sizes: dict[int, int] = {}
    for i in range(warm + repeat):
        for size, make in makers.items():
            method, path, token, body = make(i)  # type: ignore[operator]
            status, seconds, sizes[size] = _request(port, method, path, token, body)
            if status != 200:
                raise RuntimeError(f"{method} {path} answered {status}")
            if i >= warm:
                times[size].append(seconds)
    return {size: {"ms": round(statistics.median(t) * 1000, 1), "bytes": sizes[size]} for size, t in times.items()}


def _upload_feed(work: Path, point: list[str], bulk_id: str, tag: str) -> bytes:
    feed = work / f"{tag}.xml"
    gen.write_feed(feed, days=1, tag=tag, points=[(point[0], point[1])], scope=f"Batch/Bulk/{bulk_id}")
    data = feed.read_bytes()
    feed.unlink()
    return data


def measure(*, port: int, token: str, bulks: dict[int, dict], repeat: int, work: Path) -> dict[str, dict[int, dict]]:
    """Time each path against every bulk; return path -> size -> median ms."""
    base = "/espi/1_1/resource"

    def post(bulk):
        return lambda i: (
            "POST",
            f"{base}/Batch/Bulk/{bulk['bulk_id']}",
            token,
            _upload_feed(work, bulk["upload_point"], bulk["bulk_id"], f"{bulk['bulk_id']}-post{i}"),
        )

    def get(path):
        return lambda i: ("GET", path, token, None)

    def last(bulk):
        return f"{base}/Batch/Bulk/{bulk['bulk_id']}?start-index={bulk['last_start_index']}&max-results={PAGE}"

    paths = {
        "bulk_post_one_day": {size: post(bulk) for size, bulk in bulks.items()},
        "bulk_get_first_page": {size: get(f"{base}/Batch/Bulk/{bulk['bulk_id']}") for size, bulk in bulks.items()},
        "bulk_get_last_page": {
            size: get(f"{last(bulk)}&cursor={bulk['last_cursor']}")
            for size, bulk in bulks.items()
            if bulk["last_cursor"]
        },
        "bulk_get_last_page_by_start_index_only": {size: get(last(bulk)) for size, bulk in bulks.items()},
        "read_service_status": {size: get(f"{base}/ReadServiceStatus") for size in bulks},
    }
    results = {}
    for name, makers in paths.items():
        results[name] = _time_all(port, repeat * (4 if name == "read_service_status" else 1), makers)
        figures = ", ".join(f"{size:,}: {value['ms']} ms" for size, value in results[name].items())
        print(f"  {name:<42} {figures}; load average {_loadavg()}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    cfg = _settings(sys.argv[1:] if argv is None else argv)
    env = _env(cfg["database_url"])
    print(
        f"database {cfg['database_url']}: bulks of {', '.join(f'{s:,}' for s in cfg['sizes'])} members "
        f"(one usage point, one day of 15-minute readings each); load average {_loadavg()}",
        flush=True,
    )
    _recreate_database(cfg["database_url"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    done = subprocess.run(
        [PY, "-m", "bench.bulk_scaling", "load", *map(str, cfg["sizes"])],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-3000:])
    loaded = json.loads(done.stdout.decode().strip().splitlines()[-1])
    print(f"loaded in {loaded['load_seconds']} s; load average {_loadavg()}", flush=True)
    port = free_port()
    # The synchronous page path is measured: no bulk here is sent to the asynchronous (202) path.
    server_env = {**_env(cfg["database_url"], port), "BATCH_ASYNC_USAGE_POINT_DAYS": str(10**15)}
    with tempfile.TemporaryDirectory() as tmp, gunicorn(env=server_env, port=port, timeout=600):
        bulks = {size: loaded["bulks"][str(size)] for size in cfg["sizes"]}
        rows = measure(port=port, token=loaded["token"], bulks=bulks, repeat=cfg["repeat"], work=Path(tmp))
    done = subprocess.run(
        [PY, "-m", "bench.bulk_scaling", "sweep", str(cfg["repeat"]), *map(str, cfg["sizes"])],
        cwd=REPO,
        env=env,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-3000:])
    swept = json.loads(done.stdout.decode().strip().splitlines()[-1])
    rows["expiry_sweep_one_batch"] = {int(size): value for size, value in swept.items()}
    figures = ", ".join(
        f"{int(size):,}: {value['ms']} ms ({value['grants_per_batch']} grants)" for size, value in swept.items()
    )
    print(f"  {'expiry_sweep_one_batch':<42} {figures}; load average {_loadavg()}", flush=True)
    done = subprocess.run(
        [PY, "-m", "bench.bulk_scaling", "revoke"],
        cwd=REPO,
        env={**env, "CELERY_BROKER_URL": "memory://", "CELERY_RESULT_BACKEND": "cache+memory://"},
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-3000:])
    revoked = json.loads(done.stdout.decode().strip().splitlines()[-1])
    print(
        f"  {'third_party_revoke':<42} {revoked['grants']:,} grants: the action {revoked['action_ms']} ms, then "
        f"{revoked['batches']} sweep batches (median {revoked['batch_ms_median']} ms, max {revoked['batch_ms_max']} ms), "
        f"{revoked['revoked']:,} revoked in {revoked['sweep_seconds']} s, {revoked['left_active']} left active; "
        f"load average {_loadavg()}",
        flush=True,
    )
    ratios: dict[str, dict[str, float]] = {}
    sizes = cfg["sizes"]
    for small, large in zip(sizes, sizes[1:], strict=False):
        key = f"{large}/{small}"
        ratios[key] = {
            path: round(by_size[large]["ms"] / by_size[small]["ms"], 2)
            for path, by_size in rows.items()
            if small in by_size and large in by_size
        }
        print(f"  ratio {large:,} / {small:,} members (aim: <= 1.5):", flush=True)
        for path, ratio in ratios[key].items():
            note = "" if ratio <= 1.5 else "  ABOVE 1.5"
            if path.endswith("start_index_only"):
                note = "  (OFFSET, for comparison: clients following next links use the cursor)"
            print(f"    {path:<42} {ratio:5.2f}{note}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bulk_scaling.json").write_text(
        json.dumps(
            {"config": cfg, "results": rows, "revoke": revoked, "ratios": ratios, "load_average": _loadavg()},
            indent=2,
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sweep":
        print(json.dumps(sweep(repeat=int(sys.argv[2]), sizes=[int(s) for s in sys.argv[3:]])))
    elif len(sys.argv) > 1 and sys.argv[1] == "revoke":
        print(json.dumps(revoke()))
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        print(json.dumps(load(sizes=[int(s) for s in sys.argv[2:]])))
    else:
        main()
