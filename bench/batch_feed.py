"""GET Batch/Bulk benchmark: gunicorn (2 workers) on PostgreSQL, read by a client over loopback.

For each bulk size (``BENCH_FEED_SIZES``, default ``50,200`` usage points) x ``BENCH_FEED_DAYS``
(default 30) days of 15-minute readings, it reports:

* throughput of the streamed HTTP feed, and as a ratio to serialising the same entries with lxml
  alone (``etree.xmlfile`` from rows already in memory) measured in the same run;
* time to first byte of the body;
* server peak memory: each worker's VmHWM from /proc, after a warm-up request and after the feed
  (a fresh gunicorn per size, so the high-water mark belongs to that size).

Data goes to a dedicated database (``BENCH_FEED_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/bench_feed``), dropped and re-created each run, loaded with
``bulk_create`` and ``COPY`` (interval blocks with their readings packed in the row). Results go to
``bench/out/batch_feed.json``.

``python -m bench batch_feed`` (or ``make bench``); ``python -m bench.batch_feed load|lxml`` are the
subprocess entry points.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.server import Workers, free_port, gunicorn

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PY = sys.executable
READINGS_PER_DAY = 96
INTERVAL = 900


def _settings() -> dict:
    sizes = sorted(int(s) for s in os.environ.get("BENCH_FEED_SIZES", "50,200").split(",") if s.strip())
    return {
        "database_url": os.environ.get("BENCH_FEED_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_feed"),
        "sizes": sizes,
        "days": int(os.environ.get("BENCH_FEED_DAYS", "30")),
        # Best of N: other work shares the cores, the minimum is the least disturbed run.
        "repeat": max(1, int(os.environ.get("BENCH_FEED_REPEAT", "3"))),
    }


def _env(database_url: str, port: int = 0) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "custodian.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PORTAL_BASE_URL": f"http://127.0.0.1:{port}" if port else "http://127.0.0.1",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
    )
    return env


# ---- database -----------------------------------------------------------------------------------


def _recreate_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name.startswith("bench"):
        raise SystemExit(f"refusing to drop {name!r}: the bench database name must start with 'bench'")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def load(*, sizes: list[int], days: int) -> dict:
    """Create one Third Party, a bulk per size (its first N customers), and the meter data; return the token."""
    import secrets
    from datetime import UTC, timedelta

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers
    from django.db import connection, transaction

    # Bench customers never log in: skip the deliberately slow password hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, set_token_value

    from custodian import services as custodian_services
    from custodian.models import IntervalBlock, LocalTimeParameters, MeterReading, ReadingType
    from grants import services as grant_services
    from grants.models import ThirdParty

    scope = "FB=1_3_4_5_13_14_15_17_35_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000"
    started = time.perf_counter()
    tp, _secret = grant_services.third_party_register(
        name="Bench Solar",
        redirect_uris="https://bench.example/callback",
        registered_scopes=[scope],
        lifecycle=ThirdParty.Lifecycle.PRODUCTION,
    )
    bulks = {
        size: grant_services.bulk_user_create(third_party=tp, bulk_id=f"n{size}", name=f"{size}") for size in sizes
    }
    rt = ReadingType.objects.create(title="Wh 15 min", uom=72, kind=12, interval_length=INTERVAL, commodity=1)
    ltp = LocalTimeParameters.objects.create(
        dst_end_rule="B40E2000", dst_offset=3600, dst_start_rule="360E2000", tz_offset=-28800
    )
    count = max(sizes)
    points = []
    for i in range(count):
        customer = custodian_services.retail_customer_create(username=f"bench{i}", password="x" * 12, name=f"C{i}")
        points.append(custodian_services.usage_point_create(customer=customer, title="Home", local_time_parameters=ltp))
    end = timezone.now() + timedelta(days=365)
    for size, bulk in bulks.items():
        for point in points[:size]:
            grant_services.grant_create(
                customer=point.customer,
                third_party=tp,
                usage_points=[point],
                scope=f"{scope};BR={bulk.bulk_id}",
                bulk_user=bulk,
                authorized_end=end,
            )
    meter_readings = MeterReading.objects.bulk_create(
        [MeterReading(usage_point=p, reading_type=rt, title="Energy") for p in points]
    )
    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days_back = [(d, int((today - timedelta(days=d)).timestamp())) for d in range(days, 0, -1)]
    # A reading's value derives from its block's id, so the ids are taken from the sequence first; each
    # block row is then COPYed with its readings packed (custodian.readings), one row per day.
    fields = IntervalBlock._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [IntervalBlock._meta.db_table, len(meter_readings) * len(days_back)],
        )
        ids = iter(sorted(row[0] for row in cursor.fetchall()))
        raw = cursor.cursor  # psycopg 3: COPY is ~10x bulk_create
        with raw.copy(f"COPY {IntervalBlock._meta.db_table} ({columns}) FROM STDIN") as copy:
            for mr in meter_readings:
                for d, start in days_back:
                    block = IntervalBlock(
                        pk=next(ids),
                        meter_reading=mr,
                        start=start,
                        duration=86400,
                        published=today - timedelta(days=d - 1),
                        updated=today - timedelta(days=d - 1),
                    )
                    block.set_readings(
                        (start + slot * INTERVAL, INTERVAL, 200 + (block.pk * 7 + slot) % 900, None, None, None)
                        for slot in range(READINGS_PER_DAY)
                    )
                    copy.write_row(
                        [field.get_db_prep_save(getattr(block, field.attname), connection) for field in fields]
                    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    token_value = secrets.token_urlsafe(32)
    token = AccessToken(application=tp, user=None, scope="FB=3_35", expires=timezone.now() + timedelta(hours=6))
    set_token_value(token, token_value)
    token.save()
    return {
        "token": token_value,
        "usage_points": count,
        "readings": count * days * READINGS_PER_DAY,
        "load_seconds": round(time.perf_counter() - started, 2),
    }


# ---- lxml baseline ------------------------------------------------------------------------------


class _Sink:
    """A write-only byte counter, so the baseline pays no I/O."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)


def lxml_baseline(*, bulk_id: str) -> dict:
    """Serialise the bulk's entries with lxml alone from rows already in memory; return time and bytes."""
    import django

    django.setup()
    from django.utils import timezone
    from lxml import etree

    from custodian.espi.writer import atom_time, urn
    from custodian.models import IntervalBlock, MeterReading, UsagePoint
    from grants.models import BulkUser

    atom, espi = "http://www.w3.org/2005/Atom", "http://naesb.org/espi"
    bulk = BulkUser.objects.get(bulk_id=bulk_id)
    ups = list(UsagePoint.objects.filter(grants__bulk_user=bulk).order_by("pk").distinct())
    mrs = {mr.usage_point_id: mr for mr in MeterReading.objects.filter(usage_point__in=ups)}
    blocks: dict[int, list] = {}
    readings: dict[int, list] = {}
    for b in IntervalBlock.objects.filter(meter_reading__usage_point__in=ups).order_by("start"):
        blocks.setdefault(b.meter_reading_id, []).append(b)
        readings[b.pk] = [(start, duration, value) for start, duration, value, *_rest in b.reading_list()]
    stamp = atom_time(timezone.now())
    base = "http://127.0.0.1/espi/1_1/resource/Subscription/x"

    def entry(xf, uuid, href, kind, build) -> None:
        el = etree.Element(f"{{{atom}}}entry")
        etree.SubElement(el, f"{{{atom}}}id").text = urn(uuid)
        for rel, t in (("self", "espi-entry"), ("up", "espi-feed")):
            etree.SubElement(el, f"{{{atom}}}link", rel=rel, type=f"{t}/{kind}", href=href)
        etree.SubElement(el, f"{{{atom}}}title").text = ""
        build(etree.SubElement(el, f"{{{atom}}}content"))
        etree.SubElement(el, f"{{{atom}}}published").text = stamp
        etree.SubElement(el, f"{{{atom}}}updated").text = stamp
        xf.write(el)

    def block_content(block):
        def build(content):
            ib = etree.SubElement(content, f"{{{espi}}}IntervalBlock", nsmap={None: espi})
            interval = etree.SubElement(ib, f"{{{espi}}}interval")
            etree.SubElement(interval, f"{{{espi}}}duration").text = str(block.duration)
            etree.SubElement(interval, f"{{{espi}}}start").text = str(block.start)
            for start, duration, value in readings.get(block.pk, ()):
                r = etree.SubElement(ib, f"{{{espi}}}IntervalReading")
                tp = etree.SubElement(r, f"{{{espi}}}timePeriod")
                etree.SubElement(tp, f"{{{espi}}}duration").text = str(duration)
                etree.SubElement(tp, f"{{{espi}}}start").text = str(start)
                etree.SubElement(r, f"{{{espi}}}value").text = str(value)

        return build

    sink = _Sink()
    started = time.perf_counter()
    with etree.xmlfile(sink, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{atom}}}feed", nsmap={None: atom}):
            for up in ups:
                href = f"{base}/UsagePoint/{up.public_id}"
                entry(xf, up.uuid, href, "UsagePoint", lambda c: etree.SubElement(c, f"{{{espi}}}UsagePoint"))
                mr = mrs[up.pk]
                entry(
                    xf, mr.uuid, f"{href}/MeterReading/{mr.public_id}", "MeterReading",
                    lambda c: etree.SubElement(c, f"{{{espi}}}MeterReading"),
                )  # fmt: skip
                for block in blocks.get(mr.pk, ()):
                    entry(
                        xf, block.uuid, f"{href}/IntervalBlock/{block.public_id}", "IntervalBlock", block_content(block)
                    )
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "bytes": sink.size}


# ---- server and client --------------------------------------------------------------------------


def _get(port: int, path: str, token: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    first = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
    ttfb = time.perf_counter() - started
    size = len(first)
    while chunk := response.read(1 << 20):
        size += len(chunk)
    total = time.perf_counter() - started
    conn.close()
    return {"status": response.status, "bytes": size, "ttfb_s": round(ttfb, 4), "seconds": round(total, 3)}


def _serve_and_read(*, database_url: str, size: int, token: str, repeat: int) -> dict:
    port = free_port()
    with gunicorn(env=_env(database_url, port), port=port, timeout=600) as server:
        # Warm both workers (imports, URL resolver, DB connection) before measuring.
        for _ in range(6):
            _get(port, "/espi/1_1/resource/ReadServiceStatus", token)
        workers = Workers(server.pid)
        runs = [_get(port, f"/espi/1_1/resource/Batch/Bulk/n{size}?max-results={size}", token) for _ in range(repeat)]
        if any(run["status"] != 200 for run in runs):
            raise RuntimeError(f"Batch/Bulk answered {[run['status'] for run in runs]}")
        result = min(runs, key=lambda run: run["seconds"])
        result["ttfb_s"] = min(run["ttfb_s"] for run in runs)
        result.update(workers.growth())
        return result


def _subprocess_json(args: list[str], env: dict) -> dict:
    done = subprocess.run([PY, "-m", "bench.batch_feed", *args], cwd=REPO, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-3000:])
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def main() -> None:
    cfg = _settings()
    env = _env(cfg["database_url"])
    print(
        f"database {cfg['database_url']}, sizes {cfg['sizes']}, {cfg['days']} days of 15-minute readings, "
        f"best of {cfg['repeat']}",
        flush=True,
    )
    _recreate_database(cfg["database_url"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    loaded = _subprocess_json(["load", ",".join(map(str, cfg["sizes"])), str(cfg["days"])], env)
    print(
        f"loaded {loaded['readings']:,} readings for {loaded['usage_points']} usage points in {loaded['load_seconds']} s"
    )
    rows = []
    for size in cfg["sizes"]:
        baseline = min(
            (_subprocess_json(["lxml", f"n{size}"], env) for _ in range(cfg["repeat"])), key=lambda run: run["seconds"]
        )
        served = _serve_and_read(
            database_url=cfg["database_url"], size=size, token=loaded["token"], repeat=cfg["repeat"]
        )
        ours_mbps = served["bytes"] / served["seconds"] / 1e6
        lxml_mbps = baseline["bytes"] / baseline["seconds"] / 1e6
        row = {
            "usage_points": size,
            "readings": size * cfg["days"] * READINGS_PER_DAY,
            **served,
            "mb_per_s": round(ours_mbps, 1),
            "readings_per_s": round(size * cfg["days"] * READINGS_PER_DAY / served["seconds"]),
            "lxml_seconds": baseline["seconds"],
            "lxml_bytes": baseline["bytes"],
            "lxml_mb_per_s": round(lxml_mbps, 1),
            "ratio_to_lxml": round(ours_mbps / lxml_mbps, 2),
        }
        rows.append(row)
        print(
            f"  {size:>4} UPs: {row['bytes'] / 1e6:7.1f} MB in {row['seconds']:6.2f} s = {row['mb_per_s']:5.1f} MB/s "
            f"({row['readings_per_s']:,} readings/s), ratio to lxml-only {row['ratio_to_lxml']:.2f} "
            f"(lxml {row['lxml_mb_per_s']} MB/s), TTFB {row['ttfb_s'] * 1000:.0f} ms, worker RSS "
            f"{row['worker_rss_warm_mb']} -> {row['worker_rss_peak_mb']} MB (+{row['worker_rss_growth_mb']})",
            flush=True,
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "batch_feed.json").write_text(json.dumps({"config": cfg, "load": loaded, "results": rows}, indent=2))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "load":
        print(json.dumps(load(sizes=[int(s) for s in sys.argv[2].split(",")], days=int(sys.argv[3]))))
    elif command == "lxml":
        print(json.dumps(lxml_baseline(bulk_id=sys.argv[2])))
    else:
        main()
