"""Per-request cost of the authenticated ESPI API in CPU instructions, against DRF + django-oauth-toolkit.

The same four requests as ``bench.api_overhead`` (the DOT constant view and ReadServiceStatus with a
client token; a small Batch/Subscription and the DOT view serving the same feed with its access
token), each sent through the whole Django stack in process (``django.test.Client``: every
middleware, DRF, DOT), counted by ``valgrind --tool=callgrind``: the instructions of the Django
process, repeatable on a shared machine whose speed drifts (the database server's work and the
HTTP server's are not counted; ``bench.api_overhead`` times those). Each request runs
``BENCH_INSTR_REQUESTS`` (default 100) times after a warm-up, and once more with none: the
difference over the count is the cost of one request. Runs two valgrinds at a time.

Needs valgrind (Debian's ``valgrind``); without it, says so and measures nothing. Data goes to
``BENCH_INSTR_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/bench_api_instr``),
dropped and re-created. Results go to ``bench/out/api_instructions.json``.
``python -m bench api_instructions``; ``python -m bench.api_instructions client ...`` is the measured process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.api_overhead import measured_requests, prepare
from bench.batch_feed import _env

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PY = sys.executable
WARM_UP = 50
_COLLECTED = re.compile(rb"Collected : (\d+)")


def _settings() -> dict:
    return {
        "database_url": os.environ.get(
            "BENCH_INSTR_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_api_instr"
        ),
        "requests": max(1, int(os.environ.get("BENCH_INSTR_REQUESTS", "100"))),
    }


def client(path: str, token: str, count: int) -> None:
    """The measured process: warm up, then send ``count`` GETs through the Django stack, each read to the end."""
    import django

    django.setup()
    from django.test import Client

    http = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": "*/*"}
    for _ in range(WARM_UP + count):
        response = http.get(path, **headers)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if response.status_code != 200 or not body:
            raise SystemExit(f"GET {path} answered {response.status_code}")


def _instructions(env: dict, path: str, token: str, count: int) -> int:
    """Run the client under callgrind and return the instructions it executed."""
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={scratch}/out",
                PY,
                "-m",
                "bench.api_instructions",
                "client",
                path,
                token,
                str(count),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            check=False,
        )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(done.stderr.decode(errors="replace")[-3000:])
    return int(found.group(1))


def main() -> None:
    if shutil.which("valgrind") is None:
        print("  valgrind is not installed (apt-get install valgrind): nothing measured", flush=True)
        return
    cfg = _settings()
    env = _env(cfg["database_url"])
    # The test client's host, beside the deployed ones.
    env["DJANGO_ALLOWED_HOSTS"] += ",testserver"
    print(
        f"database {cfg['database_url']}: {cfg['requests']} requests per path after {WARM_UP} to warm up, "
        "in process, counted by callgrind",
        flush=True,
    )
    loaded = prepare(cfg["database_url"], env)
    baseline_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings_baseline"}
    paths = {
        name: (baseline_env if on_baseline else env, path, token)
        for name, (on_baseline, path, token) in measured_requests(loaded).items()
    }
    runs = [(name, count) for name in paths for count in (0, cfg["requests"])]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counted = dict(zip(runs, pool.map(lambda run: _instructions(*paths[run[0]], run[1]), runs), strict=True))
    per_request = {name: (counted[name, cfg["requests"]] - counted[name, 0]) / cfg["requests"] for name in paths}
    constant, same_work = per_request["baseline_dot_protected_view"], per_request["baseline_dot_same_feed"]
    results = {}
    for name, cost in per_request.items():
        results[name] = {"instructions_per_request": round(cost), "ratio_to_constant_view": round(cost / constant, 2)}
        verdict = "" if name.startswith("baseline") else ("  ok" if cost / constant <= 1.25 else "  (aim <= 1.25)")
        print(f"  {name:<30} {cost / 1e6:7.2f} M instructions  {cost / constant:5.2f} x the DOT view{verdict}")
    ratio = per_request["small_batch_subscription"] / same_work
    results["small_batch_subscription"]["ratio_to_same_work"] = round(ratio, 2)
    print(
        f"  small_batch_subscription against the same feed behind DOT's view: {ratio:5.2f} x"
        f"{'  ok' if ratio <= 1.25 else '  (aim <= 1.25)'}",
        flush=True,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "api_instructions.json").write_text(json.dumps({"config": cfg, "results": results}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
