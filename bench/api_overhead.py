"""Per-request overhead of the authenticated ESPI API against DRF + django-oauth-toolkit's own protected view.

Two gunicorn servers, one worker each (one core), on the same database
(``BENCH_API_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/bench_api``, dropped and
re-created each run): the portal as deployed (``custodian.settings``), and the baseline
(``bench.settings_baseline``: Django's startproject middleware, DRF, DOT's own validator and
``TokenHasScope`` view, ``bench.urls_baseline``). A client sends ``BENCH_API_REQUESTS`` (default
300) sequential GETs per round, each on a new connection as a sync worker serves them, with a bearer
token, alternating the paths round by round (``BENCH_API_ROUNDS``, default 5) so a drift of the
shared machine's speed falls on both. It prints requests per second (median of the rounds) of:

* the baseline ``GET /bench/dot-protected`` (client token);
* ``GET ReadServiceStatus`` (the same client token);
* a small ``GET Batch/Subscription/{id}`` (one usage point, one day of 15-minute readings; access token);
* the same-work baseline ``GET /bench/dot-subscription/{id}`` (the same access token): DOT's protected
  view serving the same feed from the same rows with the same writer, without the portal's path
  (``bench.urls_baseline``); the two bodies are checked to be the same bytes but for timestamps;

and each one's ratio to the baseline, round by round (the aim: the ESPI path within 1.25x, i.e. a
throughput ratio of at least 0.8). The small Batch/Subscription is compared with both baselines: the
constant view (what reading and writing its data cost on top of authentication) and the same-work
view (what the portal's path — grant checks, throttles, audit row, request count, middleware — adds
to that work). Results go to ``bench/out/api_overhead.json``.
``python -m bench api_overhead``; ``python -m bench.api_overhead load`` is the subprocess entry point.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.batch_feed import _env, _recreate_database
from bench.server import free_port, gunicorn

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PY = sys.executable
SCOPE = "FB=1_3_4_5_13_14_15_17_35_37_39;IntervalDuration=900;BlockDuration=daily;HistoryLength=94608000"


def _settings() -> dict:
    return {
        "database_url": os.environ.get("BENCH_API_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_api"),
        "requests": int(os.environ.get("BENCH_API_REQUESTS", "300")),
        "rounds": max(1, int(os.environ.get("BENCH_API_ROUNDS", "5"))),
    }


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def load() -> dict:
    """Create a Third Party, one customer's small grant with a day of data, and a token of each kind."""
    from datetime import UTC, timedelta

    import django

    django.setup()
    import secrets

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, set_token_value

    from custodian import services as custodian_services
    from custodian.models import IntervalBlock, MeterReading, ReadingType
    from grants import services as grant_services
    from grants.models import ThirdParty

    tp, _ = grant_services.third_party_register(
        name="Bench API",
        redirect_uris="https://bench.example/callback",
        registered_scopes=[SCOPE],
        lifecycle=ThirdParty.Lifecycle.PRODUCTION,
    )
    # The bench measures cost, not the Third Party's rate limits.
    ThirdParty.objects.filter(pk=tp.pk).update(
        rate_limit_per_second=1_000_000, rate_limit_per_hour=1_000_000_000, rate_limit_per_day=1_000_000_000
    )
    customer = custodian_services.retail_customer_create(username="bench-api", password="x" * 16, name="Bench")
    point = custodian_services.usage_point_create(customer=customer, title="Home")
    rt = ReadingType.objects.create(title="Wh 15 min", uom=72, kind=12, interval_length=900, commodity=1)
    mr = MeterReading.objects.create(usage_point=point, reading_type=rt, title="Energy")
    day = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    start = int(day.timestamp())
    block = IntervalBlock(meter_reading=mr, start=start, duration=86400, published=day, updated=day)
    block.set_readings((start + slot * 900, 900, 200 + slot, None, None, None) for slot in range(96))
    block.save()
    grant = grant_services.grant_create(
        customer=customer, third_party=tp, usage_points=[point], scope=SCOPE, authorized_end=day + timedelta(days=300)
    )
    access = secrets.token_urlsafe(32)
    grant_services.grant_token_issue(grant=grant, raw_token=access)
    client = secrets.token_urlsafe(32)
    token = AccessToken(application=tp, user=None, scope="FB=3_35", expires=timezone.now() + timedelta(hours=6))
    set_token_value(token, client)
    token.save()
    return {"client_token": client, "access_token": access, "subscription_id": grant.subscription_id}


def prepare(database_url: str, env: dict) -> dict:
    """Re-create and migrate the bench database, load it (``load``, in a subprocess) and return the tokens and ids."""
    _recreate_database(database_url)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    done = subprocess.run([PY, "-m", "bench.api_overhead", "load"], cwd=REPO, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode()[-3000:])
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def measured_requests(loaded: dict) -> dict[str, tuple[bool, str, str]]:
    """Return the four measured GETs: name -> (served by the baseline settings?, path, bearer token)."""
    subscription = loaded["subscription_id"]
    return {
        "baseline_dot_protected_view": (True, "/bench/dot-protected", loaded["client_token"]),
        "read_service_status": (False, "/espi/1_1/resource/ReadServiceStatus", loaded["client_token"]),
        "small_batch_subscription": (
            False,
            f"/espi/1_1/resource/Batch/Subscription/{subscription}",
            loaded["access_token"],
        ),
        "baseline_dot_same_feed": (True, f"/bench/dot-subscription/{subscription}", loaded["access_token"]),
    }


def _body(port: int, path: str, token: str) -> bytes:
    """Return one GET's body, its timestamps blanked (each feed's ``updated`` is the time it was written)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}", "Accept": "*/*"})
    body = conn.getresponse().read()
    conn.close()
    return re.sub(rb"<updated>[^<]*</updated>", b"<updated/>", body)


def _round(port: int, path: str, token: str, count: int) -> float:
    """Send ``count`` GETs, a new connection each; return requests per second."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "*/*"}
    started = time.perf_counter()
    for _ in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
    return count / (time.perf_counter() - started)


def main() -> None:
    cfg = _settings()
    env = _env(cfg["database_url"])
    print(
        f"database {cfg['database_url']}: {cfg['rounds']} rounds of {cfg['requests']} sequential GETs per path, "
        f"one gunicorn worker each; load average {_loadavg()}",
        flush=True,
    )
    loaded = prepare(cfg["database_url"], env)
    portal_port, baseline_port = free_port(), None
    portal_env = _env(cfg["database_url"], portal_port)
    with gunicorn(env=portal_env, port=portal_port, timeout=60, workers=1):
        baseline_port = free_port()
        # The portal's base URL, so both servers write the same hrefs.
        baseline_env = {**portal_env, "DJANGO_SETTINGS_MODULE": "bench.settings_baseline"}
        with gunicorn(env=baseline_env, port=baseline_port, timeout=60, workers=1):
            paths = {
                name: (baseline_port if on_baseline else portal_port, path, token)
                for name, (on_baseline, path, token) in measured_requests(loaded).items()
            }
            portal_body = _body(*paths["small_batch_subscription"])
            if portal_body != _body(*paths["baseline_dot_same_feed"]):
                raise RuntimeError("the same-work baseline does not serve the portal's feed")
            for port, path, token in paths.values():
                _round(port, path, token, 30)  # warm-up
            rates: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(cfg["rounds"]):
                for name, (port, path, token) in paths.items():
                    rates[name].append(_round(port, path, token, cfg["requests"]))
    baseline = rates["baseline_dot_protected_view"]
    same_work = rates["baseline_dot_same_feed"]
    results = {}
    for name, values in rates.items():
        ratio = statistics.median(value / base for value, base in zip(values, baseline, strict=True))
        results[name] = {
            "req_per_s": round(statistics.median(values), 1),
            "throughput_ratio_to_baseline": round(ratio, 2),
        }
        verdict = "" if name.startswith("baseline") else ("  (aim >= 0.80)" if ratio < 0.8 else "  ok")
        print(
            f"  {name:<30} {results[name]['req_per_s']:7.1f} req/s  {ratio:5.2f} x baseline throughput "
            f"(time per request {1 / ratio:4.2f} x){verdict}",
            flush=True,
        )
    same = statistics.median(
        value / base for value, base in zip(rates["small_batch_subscription"], same_work, strict=True)
    )
    results["small_batch_subscription"]["throughput_ratio_to_same_work"] = round(same, 2)
    print(
        f"  small_batch_subscription against the same feed behind DOT's view: {same:5.2f} x throughput "
        f"(time per request {1 / same:4.2f} x){'  ok' if same >= 0.8 else '  (aim >= 0.80)'}",
        flush=True,
    )
    print(f"  load average {_loadavg()}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "api_overhead.json").write_text(
        json.dumps({"config": cfg, "results": results, "load_average": _loadavg()}, indent=2)
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        print(json.dumps(load()))
    else:
        main()
