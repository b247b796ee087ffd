"""``manage.py import_customers FILE.csv [--dry-run] [--no-invite]``: onboard many customers at once.

The CSV has a header row with ``username``, ``email``, ``name`` and ``usage_points`` (titles
separated by ``;``), and optionally ``service_kind`` (``electricity``, ``gas``, ``water``... or its
number) and ``language`` (``en``, ``es``: the invitation's and later e-mails' language). Each row is onboarded on its own (``services.retail_customer_onboard``): a refused row is
reported with its line number and reason and changes nothing; the others go on. Running the same
file again changes nothing and sends no invitation.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction
from django.utils import translation

from custodian.models import ServiceKind
from custodian.services import retail_customer_onboard

REQUIRED_COLUMNS = ("username", "email", "name", "usage_points")
with translation.override("en"):  # the CSV names service kinds in English, whatever the active language
    _KINDS = {str(label).lower(): value for value, label in ServiceKind.choices}


class _DryRunRollback(Exception):
    """Raised at the end of a dry run to roll every row back."""


def service_kind_from_text(text: str) -> int:
    """Return the ServiceKind of a CSV cell (a name or a number; empty is electricity)."""
    text = (text or "").strip().lower()
    if not text:
        return ServiceKind.ELECTRICITY
    if text.isdigit() and int(text) in ServiceKind.values:
        return int(text)
    if text in _KINDS:
        return _KINDS[text]
    raise ValidationError({"service_kind": f"unknown service kind {text!r}"})


def _reason(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Create customers (login, e-mail, usage points) from a CSV file and invite each to set a password."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file (UTF-8, header row).")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and report; change nothing.")
        parser.add_argument("--no-invite", action="store_true", help="Create the customers without e-mailing them.")
        parser.add_argument("--progress-every", type=int, default=100, help="Print progress every N rows.")

    def handle(self, *args, file: str, dry_run: bool, no_invite: bool, progress_every: int, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        counts = {"created": 0, "updated": 0, "unchanged": 0, "refused": 0}
        refused: list[str] = []
        started = time.monotonic()
        try:
            with transaction.atomic():
                self._run(path, counts, refused, invite=not no_invite, progress_every=progress_every)
                if dry_run:
                    raise _DryRunRollback
        except _DryRunRollback:
            pass
        for line in refused:
            self.stderr.write(line)
        prefix = "Dry run (nothing changed, nothing sent): " if dry_run else ""
        self.stdout.write(
            f"{prefix}{counts['created']} created, {counts['updated']} given new usage points, "
            f"{counts['unchanged']} unchanged, {counts['refused']} refused "
            f"in {time.monotonic() - started:.1f} s."
        )
        if refused:
            raise CommandError(
                f"{len(refused)} row(s) refused; the other rows were {'checked' if dry_run else 'applied'}."
            )

    def _run(self, path: Path, counts: dict[str, int], refused: list[str], *, invite: bool, progress_every: int):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or [])]
            if missing:
                raise CommandError(
                    f"{path}: the header lacks {', '.join(missing)} (needs {', '.join(REQUIRED_COLUMNS)})"
                )
            for number, row in enumerate(reader, start=1):
                line = reader.line_num
                try:
                    with transaction.atomic():
                        result = retail_customer_onboard(
                            username=row.get("username") or "",
                            email=row.get("email") or "",
                            name=row.get("name") or "",
                            usage_point_titles=(row.get("usage_points") or "").split(";"),
                            service_kind=service_kind_from_text(row.get("service_kind") or ""),
                            invite=invite,
                            language=row.get("language") or "",
                        )
                except ValidationError as exc:
                    counts["refused"] += 1
                    refused.append(f"line {line} ({row.get('username') or 'no username'}): refused: {_reason(exc)}")
                except DatabaseError as exc:
                    counts["refused"] += 1
                    refused.append(f"line {line} ({row.get('username') or 'no username'}): refused: {exc}")
                else:
                    if result.created:
                        counts["created"] += 1
                    elif result.usage_points_created:
                        counts["updated"] += 1
                    else:
                        counts["unchanged"] += 1
                if progress_every and number % progress_every == 0:
                    self.stdout.write(f"{number} rows processed ({counts['refused']} refused so far)")
