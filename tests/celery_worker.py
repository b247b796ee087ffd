"""Run a real Celery worker or beat on the tests' clock: ``python -m tests.celery_worker INSTANT worker|beat ARGS``.

The same ``celery -A custodian worker`` a production host runs, started at the instant the test is
at (time-machine, ticking), so grants and windows the test made mean the same in the worker.
"""

from __future__ import annotations

import sys
from datetime import datetime

import time_machine


def main() -> None:
    instant = datetime.fromisoformat(sys.argv[1])
    time_machine.travel(instant, tick=True).start()
    from custodian.celery import app

    app.start(sys.argv[2:])


if __name__ == "__main__":
    main()
