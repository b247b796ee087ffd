"""``manage.py deliver_notifications [--once | --loop]``: POST due ESPI notifications to Third Parties."""

from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from grants.notifications import notification_deliver_due


class Command(BaseCommand):
    help = (
        "Deliver the notification outbox: one BatchList POST per Third Party, retried with backoff. "
        "--once runs one round (cron); --loop keeps running (systemd)."
    )

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="Deliver what is due now, then exit (the default).")
        mode.add_argument("--loop", action="store_true", help="Keep delivering until SIGTERM or SIGINT.")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="Seconds to wait when nothing is due (--loop; default 5)."
        )
        parser.add_argument("--limit", type=int, default=500, help="Notifications claimed per round (default 500).")

    def handle(self, *args, once: bool = False, loop: bool = False, interval: float = 5.0, limit: int = 500, **options):
        if limit < 1 or interval <= 0:
            raise CommandError("--limit must be at least 1 and --interval above 0.")
        verbosity = options.get("verbosity", 1)

        def progress(message: str) -> None:
            if verbosity >= 1:
                self.stdout.write(message)
                self.stdout.flush()

        if not loop:
            report = notification_deliver_due(limit=limit, progress=progress)
            self._summary(report)
            return

        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        progress(f"Delivering notifications every {interval:g}s when idle; SIGTERM or Ctrl-C stops after this round.")
        while not stopping:
            # A long-lived worker must not keep a connection the database has dropped (restart, failover).
            close_old_connections()
            report = notification_deliver_due(limit=limit, progress=progress)
            if report.claimed:
                self._summary(report)
            if report.claimed < limit:
                # Sleep in short steps so a stop signal is honoured quickly.
                deadline = time.monotonic() + interval
                while not stopping and time.monotonic() < deadline:
                    time.sleep(min(0.5, interval))
        progress("Stopped.")

    def _summary(self, report) -> None:
        line = (
            f"{report.posts} POST(s): {report.delivered} delivered, {report.retrying} to retry, "
            f"{report.failed} failed for good."
        )
        self.stdout.write(
            self.style.SUCCESS(line) if not (report.retrying or report.failed) else self.style.WARNING(line)
        )
