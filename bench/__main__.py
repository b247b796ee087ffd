"""Run every benchmark: ``make bench`` (``python -m bench``)."""

from __future__ import annotations

import importlib
import sys

# Each module exposes main(); they run in this order.
BENCHMARKS: list[str] = ["espi", "batch_feed", "batch_upload", "upload_memory", "admin_reports"]


def main() -> int:
    selected = sys.argv[1:] or BENCHMARKS
    for name in selected:
        print(f"== bench.{name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
