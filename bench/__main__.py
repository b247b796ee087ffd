"""Run every benchmark: ``make bench`` (``python -m bench``)."""

from __future__ import annotations

import importlib
import sys

# Each module exposes main(); they run in this order.
BENCHMARKS: list[str] = [
    "espi",
    "batch_feed",
    "bulk_async",
    "batch_upload",
    "upload_memory",
    "admin_reports",
    "bulk_scaling",
    "api_overhead",
    "api_instructions",
]


def main() -> int:
    # Flags (``--large``) are read by the benchmarks themselves from sys.argv.
    selected = [arg for arg in sys.argv[1:] if not arg.startswith("--")] or BENCHMARKS
    for name in selected:
        print(f"== bench.{name} ==", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
