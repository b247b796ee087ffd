"""Regulator report and admin changelists at scale, on PostgreSQL.

Loads ``BENCH_REPORTS_AUDIT_ROWS`` (default 1,000,000) audit rows spread over two years, 100,000
grants of 10,000 customers across 20 Third Parties, 50,000 submissions and
``BENCH_REPORTS_REQUEST_ROWS`` (default 1,000,000) daily request-outcome counter rows (each the
count of many requests: a million rows is years of busy traffic) into a dedicated
database (``BENCH_REPORTS_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/bench_reports``;
dropped and re-created each run), then times (best of ``BENCH_REPORTS_REPEAT``, default 3):

* ``regulator_report`` for one quarter;
* the audit log, submissions and grants changelists (first page, and the audit log drilled down to
  one month), rendered through the Django test client as a staff user.

``python -m bench admin_reports``; results go to ``bench/out/admin_reports.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.batch_feed import _env, _recreate_database

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PY = sys.executable


def _settings() -> dict:
    return {
        "database_url": os.environ.get(
            "BENCH_REPORTS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_reports"
        ),
        "audit_rows": int(os.environ.get("BENCH_REPORTS_AUDIT_ROWS", "1000000")),
        "request_rows": int(os.environ.get("BENCH_REPORTS_REQUEST_ROWS", "1000000")),
        "repeat": max(1, int(os.environ.get("BENCH_REPORTS_REPEAT", "3"))),
    }


def load_and_time(*, audit_rows: int, request_rows: int, repeat: int) -> dict:
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["*"]
    get_hashers.cache_clear()
    from batch.regulator import Quarter, regulator_report
    from custodian.models import RetailCustomer, User
    from grants import services as grant_services
    from grants.models import Grant, ThirdParty

    started = time.perf_counter()
    now = timezone.now()
    parties = [
        grant_services.third_party_register(
            name=f"Bench TP {i}",
            redirect_uris="https://bench.example/cb",
            registered_scopes=["FB=1_3_4_5_13_14_15_35_37_39"],
            lifecycle=ThirdParty.Lifecycle.PRODUCTION,
        )[0]
        for i in range(20)
    ]
    unusable = "!"  # bench customers never log in
    users = User.objects.bulk_create(
        [User(username=f"bench{i}", email=f"bench{i}@example.org", password=unusable) for i in range(10_000)],
        batch_size=2000,
    )
    customers = RetailCustomer.objects.bulk_create(
        [RetailCustomer(user=user, name=user.username) for user in users], batch_size=2000
    )
    grants = []
    for i in range(100_000):
        start = now - timedelta(days=730) + timedelta(minutes=10 * i)
        status = ("active", "revoked", "expired")[i % 3]
        grants.append(
            Grant(
                customer=customers[i % len(customers)],
                third_party=parties[i % len(parties)],
                scope="FB=1_3_4_5_13_14_15_35_37_39",
                function_blocks=[1, 3, 4],
                authorized_start=start,
                authorized_end=start + timedelta(days=1 if i % 7 == 0 else 365),
                status=status,
                created_at=start,
                updated_at=start,
                revoked_at=start + timedelta(days=3) if status == "revoked" else None,
            )
        )
    Grant.objects.bulk_create(grants, batch_size=5000)
    tp_ids = [tp.pk for tp in parties]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO custodian_auditevent
                (created_at, action, actor_client_id, customer_id, object_type, object_id, summary, detail)
            SELECT %s::timestamptz - (i * interval '63 seconds'),
                   (ARRAY['data.read','data.read','data.read','token.issued','grant.created',
                          'grant.revoked','batch.received'])[1 + i %% 7],
                   (%s::int[])[1 + i %% 20],
                   (SELECT min(id) FROM custodian_retailcustomer) + i %% 10000,
                   'Grant', md5(i::text)::varchar(16), 'bench row ' || i, '{}'::jsonb
            FROM generate_series(1, %s) AS i
            """,
            [now, tp_ids, audit_rows],
        )
        cursor.execute(
            """
            INSERT INTO batch_submission
                (public_id, caller_id, token_kind, target_kind, target_id, idempotency_key, content_type, mode,
                 dry_run, bytes, sha256, payload, received_at, outcome, received_count, accepted_count,
                 rejected_count, applied_count, readings_written, report, error)
            SELECT md5('s' || i::text)::varchar(16), (%s::int[])[1 + i %% 20], 'access_token', 'bulk', '1', '',
                   'application/xml', 'partial', false, 1000 + i %% 5000, '', '',
                   %s::timestamptz - (i * interval '20 minutes'),
                   (ARRAY['applied','applied','applied','rejected','malformed'])[1 + i %% 5],
                   10, 9, 1, 9, 960, '{"entries": []}'::jsonb, ''
            FROM generate_series(1, 50000) AS i
            """,
            [tp_ids, now],
        )
        # Request-outcome counters: 730 days x 21 callers (20 Third Parties and the unidentified
        # row) x as many (kind, status class) pairs as it takes; every row unique as the upsert keeps it.
        cursor.execute(
            """
            INSERT INTO batch_apirequestcount (day, third_party_id, kind, method, status_class, requests, bytes)
            SELECT (%s::date - (i %% 730)),
                   CASE WHEN (i / 730) %% 21 = 20 THEN NULL ELSE (%s::int[])[1 + (i / 730) %% 21] END,
                   'kind-' || (i / 15330 / 4), 'GET', 2 + (i / 15330) %% 4, 1 + i %% 97, (1 + i %% 97) * 4096
            FROM generate_series(0, %s - 1) AS i
            """,
            [timezone.localdate(now), tp_ids, request_rows],
        )
        cursor.execute("ANALYZE")
    loaded = time.perf_counter() - started
    staff = User.objects.create_superuser("bench-staff", "staff@example.org", "bench-staff-pw")
    client = Client()
    client.force_login(staff)
    month = timezone.localtime(now)

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return round(min(times), 4)

    def page(url: str, params: dict | None = None):
        def run():
            response = client.get(url, params or {})
            assert response.status_code == 200, (url, response.status_code)

        return run

    quarter = Quarter.containing(now).previous()
    report = regulator_report(quarter=quarter)
    return {
        "audit_rows": audit_rows,
        "grants": len(grants),
        "submissions": 50_000,
        "load_seconds": round(loaded, 1),
        "quarter": str(quarter),
        "report_third_parties": len(report.by_third_party),
        "request_count_rows": request_rows,
        "report_requests_served": report.total("requests_served"),
        "report_requests_failed": report.total("requests_failed"),
        "report_unidentified_failed": report.unidentified_failed,
        "regulator_report_seconds": best(lambda: regulator_report(quarter=quarter)),
        "report_page_seconds": best(page("/admin/reports/", {"quarter": str(quarter)})),
        "audit_changelist_seconds": best(page("/admin/custodian/auditevent/")),
        "audit_changelist_month_seconds": best(
            page("/admin/custodian/auditevent/", {"created_at__year": month.year, "created_at__month": month.month})
        ),
        "submission_changelist_seconds": best(page("/admin/batch/submission/")),
        "grant_changelist_seconds": best(page("/admin/grants/grant/")),
    }


def main() -> None:
    config = _settings()
    _recreate_database(config["database_url"])
    env = _env(config["database_url"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    result = subprocess.run(
        [
            PY,
            "-m",
            "bench.admin_reports",
            "run",
            str(config["audit_rows"]),
            str(config["request_rows"]),
            str(config["repeat"]),
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "admin_reports.json").write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        print(
            json.dumps(
                load_and_time(audit_rows=int(sys.argv[2]), request_rows=int(sys.argv[3]), repeat=int(sys.argv[4]))
            )
        )
    else:
        main()
