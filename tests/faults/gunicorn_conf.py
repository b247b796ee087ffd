"""gunicorn settings for the fault tests' servers: the test's clock, and an optional pause in the middle of an apply.

``FAULT_CLOCK`` (ISO 8601) starts the worker's clock there, ticking, as the test process's own clock.
``FAULT_PAUSE_FILE`` names a file: the first batch that reaches the "applied" stage (entries written,
not committed) writes ``<worker pid> <database backend pid>`` there and waits to be killed. Later
batches (the retry, in the respawned worker) find the file and go through.
"""

from __future__ import annotations

import os
import time


def post_worker_init(worker):
    at = os.environ.get("FAULT_CLOCK")
    if at:
        import time_machine

        time_machine.travel(at, tick=True).start()
    pause_file = os.environ.get("FAULT_PAUSE_FILE")
    if pause_file:
        from django.db import connection

        from batch import services

        def pause(*, stage, submission):
            if stage != "applied" or os.path.exists(pause_file):
                return
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend = cursor.fetchone()[0]
            with open(pause_file + ".tmp", "w") as handle:
                handle.write(f"{os.getpid()} {backend}")
            os.replace(pause_file + ".tmp", pause_file)
            while True:  # until the test kills this worker (or its database session)
                time.sleep(0.2)
                if os.environ.get("FAULT_PAUSE_RESUME_ON_DB_LOSS"):
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT 1")

        services.apply_observers.append(pause)
