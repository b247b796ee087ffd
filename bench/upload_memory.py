"""Worker memory of a batch POST with very many tiny entries (the attack a token that may POST can mount).

Feeds of ``BENCH_MEMORY_ENTRIES`` (default ``100000,300000``) IntervalBlock entries of one reading
each (about 300 bytes an entry), every one under a usage point the bulk was not granted, so each is
planned and rejected (``not_granted``) and the report has one row per entry. Each feed is POSTed to
a fresh gunicorn (2 workers) on PostgreSQL; the result is the worker's peak RSS (VmHWM) before and
after, the status, the time, and the size of the JSON report (streamed to the client from its rows
file). The ceiling the upload path stays under, whatever the number of entries, is
``BENCH_MEMORY_CEILING_MB`` (default 64 MB of growth per worker), printed beside each figure. It is
the sum of the fixed bounds of ``docs/architecture.md`` "Memory of an upload": 32k entry plans
(about 20 MB), the spool's 16 MB, 50k ids seen (about 4 MB), SQLite's 4 MB page cache, a chunk
being read or written, and the reader's own buffers. Results: ``bench/out/upload_memory.json``.
``python -m bench upload_memory``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from bench import gen
from bench.batch_feed import _env, _recreate_database
from bench.batch_upload import BULK_ID, OUT, PY, REPO, _serve_and_post, _subprocess_json

ENTRY = (
    "<entry><id>urn:uuid:{uuid}</id>"
    '<link rel="self" href="https://bench.example/espi/1_1/resource/Batch/Bulk/{bulk}/UsagePoint/{up}/'
    'MeterReading/1/IntervalBlock/{i}"/>'
    '<link rel="up" href="https://bench.example/espi/1_1/resource/Batch/Bulk/{bulk}/UsagePoint/{up}/'
    'MeterReading/1/IntervalBlock"/>'
    '<title>b</title><content><IntervalBlock xmlns="http://naesb.org/espi"><interval><duration>900</duration>'
    "<start>{t}</start></interval><IntervalReading><timePeriod><duration>900</duration><start>{t}</start>"
    "</timePeriod><value>1</value></IntervalReading></IntervalBlock></content><updated>{stamp}</updated></entry>\n"
)


def _settings() -> dict:
    return {
        "database_url": os.environ.get(
            "BENCH_UPLOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_upload"
        ),
        "entries": [int(n) for n in os.environ.get("BENCH_MEMORY_ENTRIES", "100000,300000").split(",")],
        "ceiling_mb": float(os.environ.get("BENCH_MEMORY_CEILING_MB", "64")),
    }


def write_feed(path: Path, *, entries: int, usage_point: str) -> None:
    """Write ``entries`` one-reading IntervalBlocks under ``usage_point`` (public id)."""
    with open(path, "w") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>urn:uuid:{gen._id('memory', entries)[9:]}</id><title>tiny entries</title>"
            f"<updated>{gen.STAMP}</updated>\n"
        )
        for i in range(entries):
            out.write(
                ENTRY.format(
                    uuid=gen._id("tiny", entries, i)[9:],
                    bulk=BULK_ID,
                    up=usage_point,
                    i=i,
                    t=1_700_000_000 + i * 900,
                    stamp=gen.STAMP,
                )
            )
        out.write("</feed>\n")


def main() -> None:
    cfg = _settings()
    env = _env(cfg["database_url"])
    print(f"database {cfg['database_url']}: feeds of {cfg['entries']} tiny entries, all out of the bulk", flush=True)
    _recreate_database(cfg["database_url"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    loaded = _subprocess_json(["-m", "bench.batch_upload", "load", "2"], env)
    ungranted = loaded["points"][1][0]  # usage points at odd positions are not granted
    work = OUT / "upload_memory"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    for entries in cfg["entries"]:
        feed = work / f"feed_{entries}.xml"
        write_feed(feed, entries=entries, usage_point=ungranted)
        media = work / f"media_{entries}"
        started = time.perf_counter()
        served = _serve_and_post(database_url=cfg["database_url"], token=loaded["token"], feed=feed, media=media)
        report = served.pop("report")
        row = {
            "entries": entries,
            "feed_mb": round(feed.stat().st_size / 1e6, 1),
            "status": served["status"],
            "seconds": served["seconds"],
            "report_json_mb": round(len(json.dumps(report)) / 1e6, 1),
            "worker_rss_warm_mb": served["worker_rss_warm_mb"],
            "worker_rss_peak_mb": served["worker_rss_peak_mb"],
            "worker_rss_growth_mb": served["worker_rss_growth_mb"],
            "ceiling_growth_mb": cfg["ceiling_mb"],
            "under_ceiling": served["worker_rss_growth_mb"] <= cfg["ceiling_mb"],
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
        rows.append(row)
        print(
            f"  {entries:>7} entries ({row['feed_mb']} MB): HTTP {row['status']} in {row['seconds']} s, report "
            f"{row['report_json_mb']} MB; worker RSS {row['worker_rss_warm_mb']} -> {row['worker_rss_peak_mb']} MB "
            f"(+{row['worker_rss_growth_mb']}; ceiling +{cfg['ceiling_mb']:.0f}: "
            f"{'under' if row['under_ceiling'] else 'OVER'})",
            flush=True,
        )
        feed.unlink()
        shutil.rmtree(media, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "upload_memory.json").write_text(json.dumps({"config": cfg, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
