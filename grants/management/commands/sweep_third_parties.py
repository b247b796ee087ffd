"""``manage.py sweep_third_parties``: finish the row work of Third Parties put On Hold or revoked."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from grants.services import third_party_lifecycle_sweep, third_party_lifecycle_sweeps_due


class Command(BaseCommand):
    help = (
        "Revoke the grants and tokens of revoked Third Parties and e-mail their customers (and those of Third "
        "Parties On Hold), in short batches, continuing where an earlier run stopped. Requests already refuse them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="Grants per transaction.")

    def handle(self, *args, **options):
        total = 0
        for pk in third_party_lifecycle_sweeps_due():
            total += third_party_lifecycle_sweep(third_party_id=pk, batch_size=options["batch_size"])
        self.stdout.write(self.style.SUCCESS(f"{total} grant(s) swept."))
