"""``manage.py expire_grants``: mark grants past their authorized end as expired (run it from the scheduler)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from grants.services import grant_expire_due


class Command(BaseCommand):
    help = (
        "Expire active grants whose authorized period has ended: revoke their tokens, audit, and queue a "
        "grant_expired notification for each. Request-time checks already treat them as inactive."
    )

    def handle(self, *args, **options):
        now = timezone.now()
        if options.get("verbosity", 1) >= 1:
            self.stdout.write(f"Expiring grants whose authorized end is at or before {now.isoformat()} ...")
        count = grant_expire_due(now=now)
        self.stdout.write(self.style.SUCCESS(f"{count} grant(s) expired."))
