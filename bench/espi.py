"""ESPI reader and import benchmark: ratios against raw lxml in the same run, readings/s, peak memory.

Sizes come from ``BENCH_ESPI_SIZES_MB`` (default ``20,200``); every measurement runs in a fresh
subprocess that reports its own peak RSS (``ru_maxrss``). The import runs on a dedicated PostgreSQL
database (``BENCH_ESPI_DATABASE_URL``, default ``postgresql://postgres@127.0.0.1:5432/bench_espi``),
created and migrated afresh, inside a transaction that is rolled back.
Results go to ``bench/out/espi.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
DAYS = 30
BYTES_PER_READING = 274  # what bench.gen writes


def _feed(size_mb: int) -> tuple[Path, int]:
    from bench.gen import write_feed

    usage_points = max(1, round(size_mb * 1e6 / BYTES_PER_READING / 96 / DAYS))
    path = OUT / f"espi_{size_mb}mb.xml"
    readings = usage_points * DAYS * 96
    if not path.exists():
        write_feed(path, usage_points=usage_points, days=DAYS, tag=f"bench{size_mb}")
    return path, readings


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_raw(path: str) -> dict:
    """Raw lxml iterparse over entries with clear() and sibling deletion: the baseline."""
    from lxml import etree

    started = time.perf_counter()
    count = 0
    for _event, elem in etree.iterparse(  # noqa: TID251 - the benchmark's baseline, same safe options
        path,
        events=("end",),
        tag="{http://www.w3.org/2005/Atom}entry",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    ):
        count += 1
        elem.clear(keep_tail=False)
        while elem.getprevious() is not None:
            del elem.getparent()[0]
    return {"seconds": time.perf_counter() - started, "entries": count, "peak_mb": _peak_mb()}


def run_reader(path: str) -> dict:
    """Our reader over a file stream, with every reading extracted to ints."""
    # The reader looks its limits up in django.conf when Django is there: a one-time ~30 ms import,
    # done before the timer as run_raw imports lxml before its own.
    import django.conf  # noqa: F401

    from custodian.espi.parser import iter_entries

    started = time.perf_counter()
    count = readings = 0
    with open(path, "rb") as handle:
        for entry in iter_entries(handle, max_bytes=1 << 40):
            count += 1
            if entry.kind == "IntervalBlock":
                readings += len(entry.content.readings)
    return {"seconds": time.perf_counter() - started, "entries": count, "readings": readings, "peak_mb": _peak_mb()}


def run_import(path: str) -> dict:
    """Plan and apply the whole feed for a fresh customer on DATABASE_URL, then roll back."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "custodian.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from custodian import services
    from custodian.imports import CustomerUsagePoints, import_apply, import_plan

    class Rollback(Exception):
        pass

    result: dict = {"vendor": connection.vendor}
    try:
        with transaction.atomic():
            customer = services.retail_customer_create(username=f"bench-{os.getpid()}", password="x" * 20, name="Bench")
            started = time.perf_counter()
            # As customer_feed_import does: one parse, the apply replays the plan's spool.
            plan = import_plan(source=path, resolver=CustomerUsagePoints(customer), max_bytes=1 << 40, spool=True)
            planned = time.perf_counter()
            assert not plan.rejected, plan.rejected[0].describe()
            applied = import_apply(source=path, plan=plan, accept=plan.ok_indexes, customer=customer, max_bytes=1 << 40)
            done = time.perf_counter()
            if connection.vendor == "postgresql":
                # The run is rolled back, so the foreign keys PostgreSQL checks at COMMIT (Django makes them
                # DEFERRABLE INITIALLY DEFERRED) are forced here and timed apart: a real import pays them.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            checked = time.perf_counter()
            result.update(
                plan_seconds=planned - started,
                apply_seconds=done - planned,
                commit_checks_seconds=checked - done,
                readings=applied.readings,
                peak_mb=_peak_mb(),
            )
            raise Rollback
    except Rollback:
        pass
    return result


def _database_url() -> str:
    return os.environ.get("BENCH_ESPI_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_espi")


def _child(mode: str, path: Path) -> dict:
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.espi", mode, str(path)], capture_output=True, text=True, check=False, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.espi {mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench.batch_feed import _recreate_database

    OUT.mkdir(exist_ok=True)
    database_url = _database_url()
    _recreate_database(database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
    )
    print(f"database {database_url}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    sizes = [int(s) for s in os.environ.get("BENCH_ESPI_SIZES_MB", "20,200").split(",") if s.strip()]
    report = []
    for size in sizes:
        started = time.perf_counter()
        path, readings = _feed(size)
        mb = path.stat().st_size / 1e6
        print(
            f"feed {path.name}: {mb:.1f} MB, {readings} readings (generated/checked in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        raw = _child("raw", path)
        reader = _child("reader", path)
        imported = _child("import", path)
        total = imported["plan_seconds"] + imported["apply_seconds"]
        row = {
            "size_mb": round(mb, 1),
            "readings": readings,
            "raw_mb_s": round(mb / raw["seconds"], 1),
            "reader_mb_s": round(mb / reader["seconds"], 1),
            "reader_ratio": round(raw["seconds"] / reader["seconds"], 2),
            "reader_readings_s": round(reader["readings"] / reader["seconds"]),
            "raw_peak_mb": round(raw["peak_mb"], 1),
            "reader_peak_mb": round(reader["peak_mb"], 1),
            "import_db": imported["vendor"],
            "import_readings_s": round(imported["readings"] / total),
            "import_plan_s": round(imported["plan_seconds"], 2),
            "import_apply_s": round(imported["apply_seconds"], 2),
            "import_apply_readings_s": round(imported["readings"] / imported["apply_seconds"]),
            "import_commit_checks_s": round(imported["commit_checks_seconds"], 2),
            "import_with_commit_checks_readings_s": round(
                imported["readings"] / (total + imported["commit_checks_seconds"])
            ),
            "import_peak_mb": round(imported["peak_mb"], 1),
        }
        assert reader["readings"] == readings == imported["readings"]
        report.append(row)
        print(
            f"  raw iterparse+clear {row['raw_mb_s']} MB/s | reader {row['reader_mb_s']} MB/s = "
            f"{row['reader_ratio']:.2f} x raw ({row['reader_readings_s']} readings/s) | peak RSS raw "
            f"{row['raw_peak_mb']} MB, reader {row['reader_peak_mb']} MB",
            flush=True,
        )
        print(
            f"  import on {row['import_db']}: {row['import_with_commit_checks_readings_s']} readings/s end to end "
            f"(plan with XSD validation {row['import_plan_s']} s + apply {row['import_apply_s']} s + the foreign-key "
            f"checks COMMIT runs {row['import_commit_checks_s']} s; {row['import_readings_s']} readings/s before "
            f"COMMIT), peak RSS {row['import_peak_mb']} MB",
            flush=True,
        )
    (OUT / "espi.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps({"raw": run_raw, "reader": run_reader, "import": run_import}[sys.argv[1]](sys.argv[2])))
    else:
        main()
