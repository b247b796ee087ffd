"""``manage.py import_greenbutton FILE --customer USERNAME [--lenient]``: import a Green Button file."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from custodian.espi.errors import EspiError
from custodian.imports import ImportFailed, ImportProgress, customer_feed_import_with_records
from custodian.models import RetailCustomer


class Command(BaseCommand):
    help = "Import a Green Button (ESPI Atom) file for a retail customer, all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The Green Button XML file.")
        parser.add_argument("--customer", required=True, help="The customer's portal username.")
        parser.add_argument(
            "--lenient",
            action="store_true",
            help="Normalize what real files do (bare or missing ids, one id on several entries, date-only stamps, "
            "relative hrefs, nested ReadingTypes, 2013 ServiceDeliveryPoint); each normalization is reported.",
        )
        parser.add_argument("--max-bytes", type=int, default=None, help="Refuse files larger than this.")

    def handle(self, *args, file: str, customer: str, lenient: bool, max_bytes: int | None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        try:
            retail_customer = RetailCustomer.objects.select_related("user").get(user__username=customer)
        except RetailCustomer.DoesNotExist:
            raise CommandError(f"no retail customer with username {customer!r}") from None
        verbosity = options.get("verbosity", 1)
        started = time.monotonic()

        def progress(state: ImportProgress) -> None:
            if verbosity >= 1:
                elapsed = time.monotonic() - started
                self.stdout.write(
                    f"  {state.phase}: {state.entries} entries, {state.readings} readings, "
                    f"{state.bytes_read / 1e6:.1f} MB, {elapsed:.1f} s"
                )

        try:
            outcome = customer_feed_import_with_records(
                customer=retail_customer, source=path, lenient=lenient, max_bytes=max_bytes, progress=progress
            )
        except EspiError as exc:
            raise CommandError(f"{file}: {exc}") from None
        except ImportFailed as exc:
            raise CommandError(f"{file}: {exc}") from None
        if not outcome.imported:
            rejected = outcome.rejected
            for line in rejected[:50]:
                self.stderr.write(line)
            if len(rejected) > 50:
                self.stderr.write(f"... and {len(rejected) - 50} more")
            raise CommandError(
                f"{file}: nothing imported: {len(rejected)} of {outcome.entries} entries cannot be imported"
                + ("" if lenient else " (try --lenient for old files)")
            )
        warnings = outcome.warnings()
        for line in warnings[:50] if verbosity >= 1 else ():
            self.stdout.write(line)
        if verbosity >= 1 and len(warnings) > 50:
            self.stdout.write(f"... and warnings on {len(warnings) - 50} more entries")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {outcome.entries} entries and {outcome.readings} readings for {customer} "
                f"in {time.monotonic() - started:.1f} s: {outcome.counts()}"
            )
        )
